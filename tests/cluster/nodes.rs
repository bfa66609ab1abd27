//! The hub that stands for one node of a deployment on Redis, shared by the suites of
//! this binary so that each builds its nodes alike (the test JWT secret, a Redis broker
//! and nothing else). Holds no test logic.

use microcoaster_realtime::Hub;
use microcoaster_realtime::broker::RedisBroker;

use crate::support::JWT_SECRET;

/// A hub on the Redis broker at `url` (a plain, `redis+cluster://` or
/// `redis+sentinel://` URL), verifying tokens with the test secret.
pub(crate) fn node(url: &str) -> Hub {
    let broker = RedisBroker::connect(url).expect("Redis answers through the URL");
    Hub::builder()
        .jwt_secret(JWT_SECRET)
        .broker(broker)
        .build()
        .expect("a hub on Redis builds")
}
