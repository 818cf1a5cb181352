//! Signature verification: the second stage of the pipeline.
//!
//! Each provider's scheme is one file in `providers/` with its own test
//! vectors, and one line in the table below. This module owns the table and
//! names what the rest of hookgate uses; beside it are what the providers
//! share: the [`Scheme`] trait and its errors (`scheme`), a provider's entry
//! (`provider`), the runtime [`Verifier`] and [`Verified`], the proof of
//! verification that nothing else can construct and that the rest of the
//! pipeline requires (`verifier`), handshakes (`handshake`), signing for
//! `hookgate send` (`sign`), timestamp tolerance (`time`), and the shapes
//! several providers are built from (`header`, `list`, `v0`, `presented`, `mac`),
//! and the certificates of providers that name theirs by URL (`certificates`).

pub(crate) mod certificates;
pub mod example_signer;
mod handshake;
mod header;
mod headers;
mod list;
pub(crate) mod mac;
mod presented;
mod provider;
mod scheme;
mod sign;
mod time;
mod v0;
mod verifier;

#[cfg(test)]
mod every_provider;
#[cfg(test)]
pub(crate) mod test_support;

/// The provider table: each line is a provider's name in configuration, its
/// file, and its variant of [`VerifierKind`]. Adding a provider is its file
/// (ending in a `PROVIDER` entry) and one line here.
macro_rules! providers {
    ($($name:literal => $module:ident :: $kind:ident,)+) => {
        /// The providers, one file each in `providers/`.
        mod providers {
            $(pub(super) mod $module;)+
        }

        /// The signature schemes a source can use.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum VerifierKind {
            $($kind,)+
        }

        impl VerifierKind {
            /// Every scheme, for help texts and tests.
            pub const ALL: [VerifierKind; [$($name,)+].len()] = [$(Self::$kind,)+];
            /// Their names in configuration, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name,)+];

            /// The name used in configuration.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$kind => $name,)+
                }
            }

            fn provider(self) -> &'static Provider {
                match self {
                    $(Self::$kind => &providers::$module::PROVIDER,)+
                }
            }
        }
    };
}

providers! {
    "hmac" => hmac::Hmac,
    "token" => token::Token,
    "github" => github::Github,
    "stripe" => stripe::Stripe,
    "slack" => slack::Slack,
    "shopify" => shopify::Shopify,
    "standard-webhooks" => standard_webhooks::StandardWebhooks,
    "svix" => svix::Svix,
    "clerk" => clerk::Clerk,
    "resend" => resend::Resend,
    "paddle" => paddle::Paddle,
    "zoom" => zoom::Zoom,
    "pagerduty" => pagerduty::PagerDuty,
    "calendly" => calendly::Calendly,
    "intercom" => intercom::Intercom,
    "linear" => linear::Linear,
    "mailgun" => mailgun::Mailgun,
    "discord" => discord::Discord,
    "sendgrid" => sendgrid::SendGrid,
    "square" => square::Square,
    "twilio" => twilio::Twilio,
    "gitlab" => gitlab::Gitlab,
    "mailchimp" => mailchimp::Mailchimp,
    "mandrill" => mandrill::Mandrill,
    "plaid" => plaid::Plaid,
    "typeform" => typeform::Typeform,
    "notion" => notion::Notion,
    "vercel" => vercel::Vercel,
    "sentry" => sentry::Sentry,
    "woocommerce" => woocommerce::WooCommerce,
    "bitbucket" => bitbucket::Bitbucket,
    "jira" => jira::Jira,
    "coinbase-commerce" => coinbase_commerce::CoinbaseCommerce,
    "razorpay" => razorpay::Razorpay,
    "segment" => segment::Segment,
    "hubspot" => hubspot::HubSpot,
    "box" => box_com::BoxCom,
    "xero" => xero::Xero,
    "asana" => asana::Asana,
    "dropbox" => dropbox::Dropbox,
    "microsoft-graph" => microsoft_graph::MicrosoftGraph,
    "okta" => okta::Okta,
    "meta" => meta::Meta,
    "zendesk" => zendesk::Zendesk,
    "docusign" => docusign::DocuSign,
    "workos" => workos::WorkOs,
    "trello" => trello::Trello,
    "customer-io" => customer_io::CustomerIo,
    "gocardless" => gocardless::GoCardless,
    "recurly" => recurly::Recurly,
    "persona" => persona::Persona,
    "airwallex" => airwallex::Airwallex,
    "easypost" => easypost::EasyPost,
    "pandadoc" => pandadoc::PandaDoc,
    "quickbooks" => quickbooks::QuickBooks,
    "monday" => monday::Monday,
    "airtable" => airtable::Airtable,
    "bigcommerce" => bigcommerce::BigCommerce,
    "postmark" => postmark::Postmark,
    "chargebee" => chargebee::Chargebee,
    "pipedrive" => pipedrive::Pipedrive,
    "openai" => openai::OpenAi,
    "polar" => polar::Polar,
    "replicate" => replicate::Replicate,
    "sns" => sns::Sns,
    "paypal" => paypal::PayPal,
    "mux" => mux::Mux,
    "lemon-squeezy" => lemon_squeezy::LemonSqueezy,
    "twitch" => twitch::Twitch,
    "x" => x::X,
    "adyen" => adyen::Adyen,
    "telnyx" => telnyx::Telnyx,
}

use std::str::FromStr;

use serde::{Deserialize, Deserializer, de};

pub use self::certificates::CertificateOptions;
#[cfg(test)]
use self::handshake::MAX_ECHO_LEN;
use self::handshake::mentions;
pub(crate) use self::handshake::{Challenge, echoable};
pub use self::handshake::{Handshake, Reply};
pub use self::headers::provider_headers;
pub use self::mac::{Algorithm, Encoding};
use self::provider::{BuildInput, Provider, SIGNS_NOTHING, SignInput};
pub use self::providers::hmac::HmacOptions;
pub use self::providers::token::TokenOptions;
pub use self::scheme::{
    BuildError, DEFAULT_TOLERANCE, Defaults, MalformedBatch, SchemeOptions, VerifyError,
};
pub(crate) use self::scheme::{ReplayMaterial, Scheme, SchemeHeader, Signed};
use self::scheme::{parse_keys, require_public_url, verdict};
pub use self::sign::{SignedDelivery, example_secret, sample, sign, verification_key};
use self::time::{check_timestamp, check_timestamp_millis};
pub use self::verifier::{Verified, Verifier};

impl VerifierKind {
    /// What the provider's documentation says about ids, headers and timestamps.
    pub fn defaults(self) -> &'static Defaults {
        &self.provider().defaults
    }
}

impl FromStr for VerifierKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown provider {name:?}; one of: {}",
                    Self::NAMES.join(", ")
                )
            })
    }
}

/// Written as configuration names it.
impl serde::Serialize for VerifierKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for VerifierKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse()
            .map_err(|_| de::Error::unknown_variant(&name, Self::NAMES))
    }
}
