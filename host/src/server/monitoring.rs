//! The monitoring service on the local server: every service runs in this process, so
//! its live metrics are the server's one registry (fed by the request middleware and
//! the services' samples), a part's probe is its health check called in-process, and
//! other parts are called in-process (`site::internal`). What a probe round
//! decides is the service's (`agency_monitoring_service::probes`).

use agency_kit::{Clock, Part};
use agency_monitor::Registry;
use agency_monitoring_service::config::GatewayHealth;
use agency_monitoring_service::{MonitorPorts, ProbeSettings, Probed};

use super::ports::Local;
use crate::store::Store;

impl MonitorPorts for Local {
    type Db = Store;

    fn db(&self) -> &Store {
        &self.0.store
    }

    fn probe_settings(&self) -> ProbeSettings {
        let c = &self.0.config;
        let gateway = c.gateway.as_ref().map(|g| GatewayHealth {
            health_url: g.health_url.clone(),
            agent_health_url: g.agent_health_url.clone(),
            instance_health_url: g.instance_health_url.clone(),
        });
        c.monitoring.probes(gateway.as_ref())
    }

    fn live(&self) -> Registry {
        self.0.metrics().clone()
    }

    async fn probe_part(&self, part: Part) -> Probed {
        let start = self.precise_ms();
        let (up, detail) = super::site::part_health(self, part).await;
        Probed {
            up,
            ms: (self.precise_ms() - start).max(0.0),
            detail: (!up).then(|| detail.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use agency_kit::{Clock, PortError, Random};
    use agency_monitor::Registry;
    use agency_monitor::metrics::{HTTP_DURATION, HTTP_REQUESTS};
    use agency_monitoring_service::{samples, store};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_util::FutureExt::now_or_never(f).expect("the SQLite port never waits")
    }

    use crate::store::Store;

    struct At(i64);
    impl Clock for At {
        fn now_ms(&self) -> i64 {
            self.0
        }
    }
    impl Random for At {
        fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError> {
            super::super::ports::OsRandom.fill(bytes)
        }
    }

    fn shipment(route: &str, n: usize, ms: f64) -> Registry {
        let mut r = Registry::default();
        for _ in 0..n {
            r.inc(HTTP_REQUESTS, &["router", route, "POST", "2xx"])
                .unwrap();
            r.observe(HTTP_DURATION, &["router", route], ms / 1000.0)
                .unwrap();
        }
        r
    }

    fn requests(r: &Registry) -> f64 {
        r.total(HTTP_REQUESTS, |_| true)
    }

    /// Shipments count once each, before and after folds, and a fold that lost a race
    /// (it read the total before another fold moved it) changes nothing.
    #[test]
    fn shipped_samples_count_once_across_folds() {
        let db = Store::in_memory().unwrap();
        let minute = 60_000 * 29_000_000;
        let p = At(minute + 5_000);
        block_on(async {
            for (i, n) in [3, 4, 5].into_iter().enumerate() {
                let at = minute + i as i64 * 60_000;
                samples::ingest(&db, at, &shipment("/api/route", n, 2.0))
                    .await
                    .unwrap();
            }
            assert_eq!(requests(&samples::stored(&db).await.unwrap()), 12.0);
            assert_eq!(samples::fold(&p, &db).await.unwrap(), 3);
            let folded = samples::stored(&db).await.unwrap();
            assert_eq!(requests(&folded), 12.0);
            assert_eq!(
                folded.latency(HTTP_DURATION, |_| true).count(),
                12,
                "the sketches merged too"
            );
            // Each minute kept its own counts.
            let minutes = store::minutes(&db, &[minute / 60_000, minute / 60_000 + 2])
                .await
                .unwrap();
            let counts: Vec<f64> = minutes
                .iter()
                .map(|m| requests(&serde_json::from_str(&m.data).unwrap()))
                .collect();
            assert_eq!(counts, vec![3.0, 5.0]);

            samples::ingest(&db, minute, &shipment("/api/route", 2, 1.0))
                .await
                .unwrap();
            assert_eq!(requests(&samples::stored(&db).await.unwrap()), 14.0);
            // A stale fold: it read the total as empty (through 0), but another fold
            // has moved it since. It must change nothing.
            let (through, _) = store::total(&db).await.unwrap();
            assert!(through > 0);
            store::fold(&db, 0, through + 1, "fold_stale", "{\"series\":[]}", &[], 0)
                .await
                .unwrap();
            store::fold(
                &db,
                through - 1,
                through + 1,
                "fold_stale2",
                "{\"series\":[]}",
                &[(minute / 60_000, "{\"series\":[]}".into())],
                i64::MAX,
            )
            .await
            .unwrap();
            assert_eq!(requests(&samples::stored(&db).await.unwrap()), 14.0);
            assert_eq!(samples::fold(&p, &db).await.unwrap(), 1);
            assert_eq!(samples::fold(&p, &db).await.unwrap(), 0);
            assert_eq!(requests(&samples::stored(&db).await.unwrap()), 14.0);
        });
    }

    /// Series of a family this version does not know are dropped and counted.
    #[test]
    fn unknown_families_in_a_shipment_are_dropped_and_counted() {
        let r: Registry = serde_json::from_str(
            r#"{"series":[{"family":"agency_nope_total","labels":[],"value":{"counter":1}}]}"#,
        )
        .unwrap();
        assert_eq!((r.len(), r.dropped), (0, 1));
    }
}
