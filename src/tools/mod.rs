//! The commands beside the gateway: [`send`] (a signed delivery for any
//! provider), [`tail`] (what landed in a topic), [`forward`] (a topic's
//! records POSTed to a URL), [`redrive`] (quarantined requests through the
//! pipeline again); their HTTP client is [`crate::ops::https`].

pub mod forward;
pub mod redrive;
pub mod send;
pub mod tail;
