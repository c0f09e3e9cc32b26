//! `orghub-broker` against a real RabbitMQ: connecting, the confirming publisher, the management
//! API client.

mod connection;
mod mgmt;
mod publisher;
