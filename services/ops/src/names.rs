//! Subscriber names and every name derived from one are the broker's conventions
//! ([`orghub_broker::subscriber`]); this module only re-exports them for `orghubctl`'s commands.

pub use orghub_broker::subscriber::{
    DELIVERY_LIMIT, NameError, SubscriberName, kommuner_of_topic_permission, topic_read_permission,
};
