//! EasyPost: `X-Hmac-Signature: hmac-sha256-hex=<hex>`, HMAC-SHA256 of the
//! body keyed by the webhook's `webhook_secret`, as EasyPost's official client
//! libraries check it (`validate_webhook`; Python 10.7, Node 8.9, Go). Those
//! libraries key the HMAC with the secret's Unicode NFKD form: hookgate keys
//! it with the secret's bytes as written, which is the same for ASCII
//! secrets; a secret with accents must be written in its NFKD form.
//!
//! EasyPost's support pages also describe a newer `x-hmac-signature-v2` with
//! `x-timestamp` (RFC 2822) and `x-path`, but publish neither its signed
//! string nor a vector, and none of EasyPost's client libraries checks it; it
//! is not checked here. Nothing is timestamped. The id is the Event's `id`
//! (`evt_…`), the same on retries and signed; the type is its `description`
//! (`tracker.updated`).
//!
//! Source: https://docs.easypost.com/docs/webhooks (client library:
//! https://github.com/EasyPost/easypost-python/blob/master/easypost/util.py)

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Hmac-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/description"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    // The object the event is about (`result.id`: a tracker, a batch).
    partition_key: Some("json:/result/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "hmac-sha256-hex=",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |_, signature| vec![signature]).with_sample(
        |id, _now| {
            serde_json::json!({
                "id": id,
                "object": "Event",
                "mode": "production",
                "description": "tracker.updated",
                "status": "pending",
                "previous_attributes": { "status": "pre_transit" },
                "created_at": "2024-08-02T19:26:52.000Z",
                "updated_at": "2024-08-02T19:26:52.000Z",
                "pending_urls": ["https://hooks.example.com/easypost"],
                "completed_urls": [],
                "result": {
                    "id": "trk_c8e0edb5bb284caa934a0d3db23a148z",
                    "object": "Tracker",
                    "mode": "production",
                    "tracking_code": "9400110898825022579493",
                    "status": "in_transit",
                    "carrier": "USPS"
                }
            })
        },
    );

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret of EasyPost's client-library fixtures (`"sécret"`), in its
    /// NFKD form: `e` followed by U+0301, as the libraries key the HMAC.
    const SECRET: &str = "se\u{301}cret";
    /// EasyPost's shared fixture `official/fixtures/event-body.json`
    /// (github.com/EasyPost/examples), without the file's final newline,
    /// exactly as the client libraries' tests sign it.
    const BODY: &str = concat!(
        r#"{"description":"tracker.updated","mode":"production","previous_attributes":{"status":"in"#,
        r#"_transit"},"created_at":"2024-08-02T19:26:52.000Z","pending_urls":["https://example.com/"#,
        r#"easypost"],"completed_urls":[],"updated_at":"2024-08-02T19:26:52.000Z","id":"evt_1","use"#,
        r#"r_id":"user_1","status":"pending","object":"Event","result":{"id":"trk_1","object":"Trac"#,
        r#"ker","mode":"production","tracking_code":"1","status":"in_transit","status_detail":"arri"#,
        r#"ved_at_facility","created_at":"2024-07-31T14:45:27Z","updated_at":"2024-08-02T19:26:51Z""#,
        r#","signed_by":null,"weight":614.4,"est_delivery_date":"2024-08-05T00:00:00Z","shipment_id"#,
        r#"":null,"carrier":"FedEx","tracking_details":[{"object":"TrackingDetail","message":"Shipm"#,
        r#"ent information sent to FedEx","description":"Shipment information sent to FedEx","statu"#,
        r#"s":"pre_transit","status_detail":"label_created","datetime":"2024-07-31T15:00:00Z","sour"#,
        r#"ce":"FedEx","carrier_code":"OC","tracking_location":{"object":"TrackingLocation","city":"#,
        r#"null,"state":null,"country":"US","zip":"32837"}},{"object":"TrackingDetail","message":"P"#,
        r#"icked up","description":"Picked up","status":"in_transit","status_detail":"arrived_at_fa"#,
        r#"cility","datetime":"2024-07-31T19:27:00Z","source":"FedEx","carrier_code":"PU","tracking"#,
        r#"_location":{"object":"TrackingLocation","city":"ORLANDO","state":"FL","country":"US","zi"#,
        r#"p":"32809"}},{"object":"TrackingDetail","message":"Arrived at FedEx location","descripti"#,
        r#"on":"Arrived at FedEx location","status":"in_transit","status_detail":"arrived_at_facili"#,
        r#"ty","datetime":"2024-07-31T22:35:00Z","source":"FedEx","carrier_code":"AR","tracking_loc"#,
        r#"ation":{"object":"TrackingLocation","city":"ORLANDO","state":"FL","country":"US","zip":""#,
        r#"32809"}},{"object":"TrackingDetail","message":"Departed FedEx location","description":"D"#,
        r#"eparted FedEx location","status":"in_transit","status_detail":"departed_facility","datet"#,
        r#"ime":"2024-08-01T14:42:13Z","source":"FedEx","carrier_code":"DP","tracking_location":{"o"#,
        r#"bject":"TrackingLocation","city":"ORLANDO","state":"FL","country":"US","zip":"32809"}},{"#,
        r#""object":"TrackingDetail","message":"On the way","description":"On the way","status":"in"#,
        r#"_transit","status_detail":"unknown","datetime":"2024-08-02T02:46:19Z","source":"FedEx",""#,
        r#"carrier_code":"IT","tracking_location":{"object":"TrackingLocation","city":"KENLY","stat"#,
        r#"e":"NC","country":"US","zip":"27542"}},{"object":"TrackingDetail","message":"On the way""#,
        r#","description":"On the way","status":"in_transit","status_detail":"unknown","datetime":""#,
        r#"2024-08-02T18:35:20Z","source":"FedEx","carrier_code":"IT","tracking_location":{"object""#,
        r#":"TrackingLocation","city":"EDISON TWP","state":"NJ","country":"US","zip":"08817"}},{"ob"#,
        r#"ject":"TrackingDetail","message":"Arrived at FedEx location","description":"Arrived at F"#,
        r#"edEx location","status":"in_transit","status_detail":"arrived_at_facility","datetime":"2"#,
        r#"024-08-02T18:50:00Z","source":"FedEx","carrier_code":"AR","tracking_location":{"object":"#,
        r#""TrackingLocation","city":"EDISON","state":"NJ","country":"US","zip":"08817"}}],"carrier"#,
        r#"_detail":{"object":"CarrierDetail","service":"FEDEX_GROUND","container_type":null,"est_d"#,
        r#"elivery_date_local":"2024-08-05","est_delivery_time_local":null,"origin_location":"ORLAN"#,
        r#"DO FL US","origin_tracking_location":{"object":"TrackingLocation","city":"ORLANDO","stat"#,
        r#"e":"FL","country":"US","zip":"32809"},"destination_location":"BROOKLYN HGTS NY US","dest"#,
        r#"ination_tracking_location":null,"guaranteed_delivery_date":null,"alternate_identifier":n"#,
        r#"ull,"initial_delivery_attempt":null},"finalized":false,"is_return":false,"public_url":"h"#,
        r#"ttps://track.easypost.com/1"}}"#,
    );
    /// `hmac_signature` of the same fixtures (`client-library-fixtures.json`).
    const SIG: &str =
        "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db";

    #[test]
    fn easypost_s_own_vector_holds_and_everything_else_is_refused() {
        assert_eq!(BODY.len(), 3550);
        crate::verify::test_support::header_hmac_vector(
            &SHAPE,
            SECRET.as_bytes(),
            BODY.as_bytes(),
            SIG,
        );
    }

    #[test]
    fn the_secret_is_keyed_as_written_so_accents_need_the_nfkd_form() {
        use crate::config::secret::Secret;
        use crate::verify::VerifyError;
        // The composed spelling, U+00E9: other bytes, another key.
        let composed = [Secret::new("s\u{e9}cret".as_bytes())];
        assert_eq!(
            crate::verify::test_support::run(
                &SHAPE.scheme(&composed),
                &[(SIGNATURE, SIG)],
                BODY.as_bytes(),
                0
            ),
            Err(VerifyError::Mismatch)
        );
    }
}
