//! The plan, table-tested against the real registry.

use std::collections::BTreeSet;

use agency_kit::Part;

use crate::desired::{DiscordSource, TelegramSource};
use crate::*;

fn inputs() -> Inputs {
    Inputs {
        policy: Some("[[rules]]\n".into()),
        sections: "[webhooks]\n".into(),
        webhook_secrets: vec![
            "SLACK_SIGNING_SECRET".into(),
            "AGENCY_GATEWAY_SECRET".into(),
        ],
        graph: Some("g1".into()),
        telegram: vec![TelegramSource {
            id: "bot".into(),
            secret_token_env: "TG_SECRET".into(),
            bot_token_env: Some("TG_TOKEN".into()),
        }],
        discord: vec![
            DiscordSource {
                id: "G1".into(),
                application_id: "A1".into(),
                bot_token_env: Some("DC_TOKEN".into()),
            },
            // Without a bot token its settings can only be printed.
            DiscordSource {
                id: "G2".into(),
                application_id: "A2".into(),
                bot_token_env: None,
            },
        ],
        ..Inputs::default()
    }
}

fn desired(env: &str, i: &Inputs) -> Desired {
    Desired::new(Names::new(env).unwrap(), &agency_services::SERVICES, i)
}

fn local(d: &Desired) -> Local {
    let mut set: BTreeSet<String> = d
        .workers
        .iter()
        .flat_map(|w| w.secrets.iter().map(|s| s.from.clone()))
        .collect();
    set.insert("TG_SECRET".into());
    Local {
        hooks: [("telegram:bot", "hook 1"), ("discord:G1", "hook 2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        values: set
            .iter()
            .map(|v| (v.clone(), format!("value of {v}")))
            .collect(),
        set,
        digests: d
            .workers
            .iter()
            .map(|w| (w.part, format!("digest-{}", w.name)))
            .collect(),
    }
}

/// The state an apply of `p` leaves behind, on top of `o`.
fn applied(d: &Desired, l: &Local, p: &Plan, mut o: Observed) -> Observed {
    for s in &p.steps {
        match s {
            Step::Create { resource } => {
                o.resources.insert(resource.clone(), "id".into());
            }
            Step::Migrate {
                database,
                migrations,
                ..
            } => o
                .migrated
                .entry(database.clone())
                .or_default()
                .extend(migrations.iter().cloned()),
            Step::Deploy {
                part,
                worker,
                without,
            } => {
                let digest = without.is_empty().then(|| l.digests[part].clone());
                o.workers.insert(worker.clone(), digest);
            }
            Step::Secrets {
                worker, secrets, ..
            } => {
                for s in secrets {
                    o.secrets
                        .entry(worker.clone())
                        .or_default()
                        .insert(s.name.clone());
                    o.secret_digests
                        .insert((worker.clone(), s.name.clone()), l.values[&s.from].clone());
                }
            }
            Step::PushGraph { version } => o.graph = Some(version.clone()),
            Step::RegisterTelegram { source } => {
                let key = format!("telegram:{source}");
                o.telegram.insert(source.clone(), l.hooks[&key].clone());
            }
            Step::RegisterDiscord { source } => {
                let key = format!("discord:{source}");
                o.discord.insert(source.clone(), l.hooks[&key].clone());
            }
            Step::Check { .. } => {}
        }
    }
    let _ = d;
    o
}

/// The steps of `p` that change the account, for people.
fn changes(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .filter(|s| s.changes())
        .map(Step::describe)
        .collect()
}

fn deploy_order(p: &Plan) -> Vec<(Part, usize)> {
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Deploy { part, without, .. } => Some((*part, without.len())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_empty_account_gets_everything_in_an_order_the_bindings_allow() {
    let d = desired("production", &inputs());
    let l = local(&d);
    let p = plan(&d, &Observed::default(), &l);
    assert!(p.complete(), "{:?}", p.missing);
    assert!(p.kept.is_empty());
    let first_deploy = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Deploy { .. }))
        .unwrap();
    // Every resource and migration before any Worker.
    assert!(
        p.steps[..first_deploy]
            .iter()
            .all(|s| matches!(s, Step::Create { .. } | Step::Migrate { .. }))
    );
    let creates: Vec<&Resource> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Create { resource } => Some(resource),
            _ => None,
        })
        .collect();
    let dead = creates
        .iter()
        .position(|r| r.name() == "agency-webhook-dead-production")
        .unwrap();
    let work = creates
        .iter()
        .position(|r| r.name() == "agency-webhook-work-production")
        .unwrap();
    assert!(dead < work, "the dead-letter queue first");
    assert!(creates.contains(&&Resource::Bucket("agency-archive-production".into())));
    // Each deploy binds only Workers already there; a deploy that left bindings out
    // is followed by one with all of them.
    let mut up = BTreeSet::new();
    for s in &p.steps {
        if let Step::Deploy { part, without, .. } = s {
            let w = d.worker(*part).unwrap();
            for c in &w.calls {
                assert!(
                    up.contains(c) || without.contains(c),
                    "{part} binds {c} before it exists"
                );
            }
            up.insert(*part);
        }
    }
    let order = deploy_order(&p);
    for (part, left_out) in &order {
        if *left_out > 0 {
            assert!(
                order.iter().any(|(q, n)| q == part && *n == 0),
                "{part} is deployed again with its bindings"
            );
        }
    }
    assert_eq!(order.iter().filter(|(_, n)| *n == 0).count(), 5);
    // The bindings' cycles need three Workers deployed twice, no more: monitoring and
    // every part bind each other, and so do the router and the skill graph, the router
    // and the assistant, the assistant and the webhooks, the webhooks and the router.
    assert_eq!(order.iter().filter(|(_, n)| *n > 0).count(), 3);
    // Secrets right after each Worker's first deploy; the graph, the webhook and the
    // checks at the end.
    for part in Part::ALL {
        let dep = p
            .steps
            .iter()
            .position(|s| matches!(s, Step::Deploy { part: q, .. } if *q == part))
            .unwrap();
        assert!(matches!(&p.steps[dep + 1], Step::Secrets { part: q, .. } if *q == part));
    }
    let tail: Vec<&str> = p.steps[p.steps.len() - 8..]
        .iter()
        .map(|s| match s {
            Step::PushGraph { .. } => "graph",
            Step::RegisterTelegram { .. } => "telegram",
            Step::RegisterDiscord { source } if source == "G1" => "discord",
            Step::Check { .. } => "check",
            _ => "other",
        })
        .collect();
    assert_eq!(
        tail,
        [
            "graph", "telegram", "discord", "check", "check", "check", "check", "check"
        ]
    );
}

#[test]
fn a_second_plan_after_an_apply_does_nothing() {
    let d = desired("production", &inputs());
    let l = local(&d);
    let p = plan(&d, &Observed::default(), &l);
    let o = applied(&d, &l, &p, Observed::default());
    let again = plan(&d, &o, &l);
    assert!(again.nothing_to_do(), "{:#?}", again.steps);
    assert!(
        again
            .kept
            .iter()
            .any(|k| k.contains("agency-router-production"))
    );
    // New code for one Worker: that Worker alone.
    let mut changed = l.clone();
    changed.digests.insert(Part::Router, "new code".into());
    assert_eq!(
        changes(&plan(&d, &o, &changed)),
        ["deploy agency-router-production"]
    );
    // A secret's new value: put again on the Worker that reads it, and nothing else.
    let mut rotated = l.clone();
    rotated
        .values
        .insert("SLACK_SIGNING_SECRET".into(), "a new value".into());
    assert_eq!(
        changes(&plan(&d, &o, &rotated)),
        ["put secrets on agency-webhooks-production: SLACK_SIGNING_SECRET"]
    );
    // A new URL or secret token for the Telegram bot: registered again, alone.
    let mut moved = l.clone();
    moved
        .hooks
        .insert("telegram:bot".into(), "hook 1, moved".into());
    assert_eq!(
        changes(&plan(&d, &o, &moved)),
        ["register the Telegram webhook of bot (setWebhook)"]
    );
}

#[test]
fn a_half_created_account_plans_only_the_rest() {
    let d = desired("production", &inputs());
    let l = local(&d);
    let full = plan(&d, &Observed::default(), &l);
    // Stopped after the first half of the steps.
    let half = Plan {
        steps: full.steps[..full.steps.len() / 2].to_vec(),
        ..full.clone()
    };
    let o = applied(&d, &l, &half, Observed::default());
    let rest = plan(&d, &o, &l);
    for s in rest.steps.iter().filter(|s| s.changes()) {
        assert!(
            !half.steps.contains(s) || matches!(s, Step::Deploy { .. }),
            "{} was done already",
            s.describe()
        );
    }
    let done = applied(&d, &l, &rest, o);
    assert!(plan(&d, &done, &l).nothing_to_do());
    // Ends where one uninterrupted apply ends.
    assert_eq!(done, applied(&d, &l, &full, Observed::default()));
}

#[test]
fn another_environment_is_left_alone() {
    let i = inputs();
    let prod = desired("production", &i);
    let l = local(&prod);
    let mut o = applied(
        &prod,
        &l,
        &plan(&prod, &Observed::default(), &l),
        Observed::default(),
    );
    // The account is shared; what applies record is kept per environment.
    o.graph = None;
    o.telegram.clear();
    o.discord.clear();
    let staging = desired("staging", &i);
    let p = plan(&staging, &o, &local(&staging));
    assert!(p.kept.is_empty(), "{:?}", p.kept);
    for s in &p.steps {
        let text = s.describe();
        assert!(!text.contains("production"), "{text}");
    }
    assert!(
        p.steps
            .iter()
            .any(|s| s.describe() == "deploy agency-router-staging"
                || s.describe().starts_with("deploy agency-router-staging "))
    );
}

#[test]
fn what_is_missing_is_named_by_its_variable() {
    let mut i = inputs();
    i.policy = None;
    i.graph = None;
    let d = desired("production", &i);
    let mut l = local(&d);
    l.set.remove("SLACK_SIGNING_SECRET");
    // Role tokens are made up when absent: never missing.
    for t in agency_kit::service::ROLE_TOKENS {
        l.set.remove(*t);
    }
    let p = plan(&d, &Observed::default(), &l);
    assert!(!p.complete());
    assert_eq!(
        p.missing,
        vec![
            Missing::Secret {
                variable: "SLACK_SIGNING_SECRET".into(),
                for_workers: vec!["agency-webhooks-production".into()],
            },
            Missing::Policy,
            Missing::Graph,
        ]
    );
    // A policy over what a Worker's variable may hold is refused before anything.
    let mut big = inputs();
    big.policy = Some("#".repeat(plan::MAX_VAR_BYTES + 1));
    let d_big = desired("production", &big);
    assert!(
        plan(&d_big, &Observed::default(), &local(&d_big))
            .missing
            .iter()
            .any(
                |m| matches!(m, Missing::TooLarge { variable, .. } if variable == "AGENCY_POLICY")
            )
    );
    // The example policy only when asked for, and then visibly.
    i.example = true;
    let d = desired("production", &i);
    let a = d.worker(Part::Assistant).unwrap();
    assert_eq!(a.vars.get("AGENCY_EXAMPLE").map(String::as_str), Some("1"));
    assert!(
        !plan(&d, &Observed::default(), &l)
            .missing
            .contains(&Missing::Policy)
    );
}

#[test]
fn the_llm_key_comes_from_the_variable_the_config_names() {
    let mut i = inputs();
    i.llm = Some(desired::Llm {
        base_url: "http://model/v1".into(),
        model: "m".into(),
        api_key_env: "OPENAI_KEY".into(),
    });
    let d = desired("production", &i);
    let a = d.worker(Part::Assistant).unwrap();
    assert!(
        a.secrets
            .iter()
            .any(|s| s.name == "AGENCY_LLM_API_KEY" && s.from == "OPENAI_KEY")
    );
    assert_eq!(a.vars["AGENCY_LLM_BASE_URL"], "http://model/v1");
    // Nobody else gets it, and the webhooks' secrets stay on the webhooks Worker.
    for w in &d.workers {
        if w.part != Part::Assistant {
            assert!(w.secrets.iter().all(|s| s.name != "AGENCY_LLM_API_KEY"));
        }
        if w.part != Part::Webhooks {
            assert!(w.secrets.iter().all(|s| s.name != "SLACK_SIGNING_SECRET"));
        }
    }
}

#[test]
fn every_worker_with_an_archive_reads_the_retention_periods_and_binds_the_bucket() {
    let section = r#"{"decisions_days":45}"#.to_owned();
    let d = desired(
        "production",
        &Inputs {
            retention: Some(section.clone()),
            ..inputs()
        },
    );
    for w in &d.workers {
        let archives = [Part::Router, Part::Assistant, Part::Webhooks].contains(&w.part);
        assert_eq!(
            w.vars.get("AGENCY_RETENTION"),
            archives.then_some(&section),
            "{}",
            w.part
        );
        assert_eq!(
            w.bucket.as_deref(),
            archives.then_some("agency-archive-production"),
            "{}",
            w.part
        );
        // Retention runs in the Worker's cron.
        assert!(!archives || !w.crons.is_empty(), "{}: no cron", w.part);
    }
    // Without `[retention]`, the defaults: no variable.
    let d = desired("production", &inputs());
    assert!(
        d.workers
            .iter()
            .all(|w| !w.vars.contains_key("AGENCY_RETENTION"))
    );
}

#[test]
fn the_generated_configuration_is_deterministic_and_binds_what_is_declared() {
    let d = desired("production", &inputs());
    let layout = wrangler::Layout {
        root: "../..".into(),
        ..Default::default()
    };
    let w = d.worker(Part::Webhooks).unwrap();
    let a = wrangler::text(&d, w, &layout, &[]);
    assert_eq!(a, wrangler::text(&d, w, &layout, &[]));
    let json: serde_json::Value = serde_json::from_str(
        a.lines()
            .filter(|l| !l.starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap();
    assert_eq!(json["name"], "agency-webhooks-production");
    assert_eq!(json["main"], "../../workers/webhooks/build/index.js");
    assert_eq!(
        json["queues"]["consumers"][0]["dead_letter_queue"],
        "agency-webhook-dead-production"
    );
    assert_eq!(json["durable_objects"]["bindings"][0]["class_name"], "Gate");
    assert_eq!(json["triggers"]["crons"][0], "* * * * *");
    assert_eq!(json["observability"]["enabled"], true);
    let bindings: Vec<&str> = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["binding"].as_str().unwrap())
        .collect();
    assert_eq!(bindings, ["ROUTER", "ASSISTANT", "MONITORING"]);
    // Left out on a first deploy.
    let first = wrangler::config(&d, w, &layout, &[Part::Monitoring]);
    assert_eq!(first["services"].as_array().unwrap().len(), 2);
    assert_eq!(json["build"]["command"], "worker-build --release");
    // Built already: Wrangler takes build/ as it is.
    let prebuilt = wrangler::Layout {
        prebuilt: true,
        ..layout.clone()
    };
    assert!(
        wrangler::config(&d, w, &prebuilt, &[])
            .get("build")
            .is_none()
    );
    // Distinct stand-in ids per database, stable across runs.
    let r = wrangler::config(&d, d.worker(Part::Router).unwrap(), &layout, &[]);
    assert_ne!(
        r["d1_databases"][0]["database_id"],
        json["d1_databases"][0]["database_id"]
    );
}
