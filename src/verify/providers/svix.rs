//! Svix: the Standard Webhooks scheme under `svix-id`, `svix-timestamp` and
//! `svix-signature`, as every sender that delivers through Svix signs (their
//! SDKs verify both sets of names). For a sender with a file of its own here
//! (Clerk, Resend) pick that one; this is for the rest.
//! Source: <https://docs.svix.com/receiving/verifying-payloads/how-manual>

use super::standard_webhooks::svix_branded;
use crate::verify::Provider;

pub(in crate::verify) const PROVIDER: Provider = svix_branded();
