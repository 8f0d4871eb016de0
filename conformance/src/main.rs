//! `agency-conformance --router URL --graph URL`: runs the suite against a deployment;
//! `agency-conformance fakes` runs the fake gateway and chat platform APIs it needs for
//! the webhook checks; `webhook-env` and `webhook-config FAKES_URL` print what the
//! webhook service under test must be configured with.
//! Tokens come from AGENCY_GATEWAY_TOKEN, AGENCY_OPERATOR_TOKEN, AGENCY_VIEWER_TOKEN;
//! AGENCY_CONFORMANCE_FAKE_MODEL=1 says the assistant talks to scripts/fake-chat-model.py;
//! AGENCY_CONFORMANCE_QUICK_EXPIRY=1 that its policy has the quick-expiry rule.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // What a webhook service under test is configured with: its environment (secrets)
    // as KEY=VALUE lines, and its config sections for fakes at URL.
    if args.get(1).map(String::as_str) == Some("webhook-env") {
        for (k, v) in agency_conformance::webhooks::server_env() {
            println!("{k}={v}");
        }
        return ExitCode::SUCCESS;
    }
    if args.get(1).map(String::as_str) == Some("webhook-config") {
        let Some(url) = args.get(2) else {
            eprintln!("usage: agency-conformance webhook-config FAKES_URL");
            return ExitCode::from(2);
        };
        print!("{}", agency_conformance::webhooks::server_config(url));
        return ExitCode::SUCCESS;
    }
    if args.get(1).map(String::as_str) == Some("fakes") {
        // The fake gateway and platform APIs, for a server started after them.
        return match agency_conformance::fakes::Fakes::start(
            agency_conformance::webhooks::GATEWAY_SECRET,
        ) {
            Ok(f) => {
                println!("fakes: {}", f.url);
                use std::io::Write;
                let _ = std::io::stdout().flush();
                f.park()
            }
            Err(e) => {
                eprintln!("fakes: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(router), Some(graph)) = (arg("--router"), arg("--graph")) else {
        eprintln!(
            "usage: agency-conformance --router URL --graph URL [--assistant URL] [--webhooks URL --fakes URL] [--monitoring URL] (tokens from AGENCY_*_TOKEN)\n       agency-conformance fakes   (runs the fake gateway and platform APIs)"
        );
        return ExitCode::from(2);
    };
    let token = |v: &str| std::env::var(v).unwrap_or_default();
    let target = agency_conformance::Target {
        router,
        graph,
        assistant: arg("--assistant"),
        monitoring: arg("--monitoring"),
        webhooks: arg("--webhooks")
            .zip(arg("--fakes"))
            .map(|(base, fakes)| agency_conformance::webhooks::WebhookTarget { base, fakes }),
        fake_model: std::env::var("AGENCY_CONFORMANCE_FAKE_MODEL").is_ok_and(|v| v == "1"),
        quick_expiry: std::env::var("AGENCY_CONFORMANCE_QUICK_EXPIRY").is_ok_and(|v| v == "1"),
        gateway_token: token("AGENCY_GATEWAY_TOKEN"),
        operator_token: token("AGENCY_OPERATOR_TOKEN"),
        viewer_token: token("AGENCY_VIEWER_TOKEN"),
    };
    if agency_conformance::report(&agency_conformance::run(&target)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
