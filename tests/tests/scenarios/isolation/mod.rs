//! One tenant, input or slow client cannot hurt anyone else: relay halts per municipality, size
//! limits, bad input isolated, bounded snapshots, timeouts on every peer, bounded write paths.
mod input;
mod metrics;
mod relay;
mod snapshot;
mod subscriber_shutdown;
mod tenant;
