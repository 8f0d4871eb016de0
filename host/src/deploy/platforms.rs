//! The chat platforms' side of a deploy, as their APIs allow: Telegram's webhook
//! (`setWebhook` with its secret token), Discord's interactions endpoint and the guild's
//! `/agency` command (with the bot's token), what each registration would send (as a
//! digest, so apply registers again only when it changed), and the settings to paste
//! where no API sets them (Slack).

use std::collections::BTreeMap;

use agency_kit::Part;
use anyhow::{anyhow, bail};

use super::Project;

/// What registering each chat source would send now, as digests: the webhook's URL
/// and the secrets involved (never the secrets themselves).
pub(crate) fn hooks(project: &Project, webhooks: &str) -> BTreeMap<String, String> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let mut out = BTreeMap::new();
    for t in &project.desired.telegram {
        let bot = t.bot_token_env.as_deref().map(var).unwrap_or_default();
        let text = format!(
            "{webhooks}/telegram/{}\n{}\n{bot}",
            t.id,
            var(&t.secret_token_env)
        );
        out.insert(
            format!("telegram:{}", t.id),
            agency_deploy::Secret::digest(&text),
        );
    }
    for d in &project.desired.discord {
        let bot = d.bot_token_env.as_deref().map(var).unwrap_or_default();
        let text = format!("{webhooks}/discord/{}\n{}\n{bot}", d.id, d.application_id);
        out.insert(
            format!("discord:{}", d.id),
            agency_deploy::Secret::digest(&text),
        );
    }
    out
}

/// `setWebhook` for one Telegram source: its webhook URL and secret token.
pub(crate) fn register_telegram(
    project: &Project,
    webhooks: &str,
    source: &str,
) -> anyhow::Result<()> {
    let t = project
        .desired
        .telegram
        .iter()
        .find(|t| t.id == source)
        .ok_or_else(|| anyhow!("no Telegram source {source}"))?;
    let bot_env = t.bot_token_env.as_deref().ok_or_else(|| {
        anyhow!("Telegram source {source} has no bot_token_env: its webhook cannot be registered")
    })?;
    let bot =
        std::env::var(bot_env).map_err(|_| anyhow!("environment variable {bot_env} is not set"))?;
    let secret = std::env::var(&t.secret_token_env)
        .map_err(|_| anyhow!("environment variable {} is not set", t.secret_token_env))?;
    let api = project
        .config
        .webhooks
        .telegram_api
        .clone()
        .unwrap_or_else(|| "https://api.telegram.org".into());
    let body = serde_json::json!({
        "url": format!("{webhooks}/telegram/{source}"),
        "secret_token": secret,
        "allowed_updates": ["message", "callback_query"],
    });
    let agent = super::http(std::time::Duration::from_secs(30));
    let mut resp = agent
        .post(&format!(
            "{}/bot{bot}/setWebhook",
            api.trim_end_matches('/')
        ))
        .header("content-type", "application/json")
        .send(body.to_string())
        .map_err(|e| {
            anyhow!(
                "Telegram's setWebhook for {source}: {}",
                e.to_string().replace(&bot, "(token)")
            )
        })?;
    let answer: serde_json::Value = resp.body_mut().read_json().unwrap_or_default();
    if answer["ok"] != serde_json::json!(true) {
        bail!(
            "Telegram's setWebhook for {source} refused: {}",
            answer["description"].as_str().unwrap_or("no reason given")
        );
    }
    Ok(())
}

/// Discord, as its API allows with the bot's token: the application's interactions
/// endpoint (Discord checks it at once with a signed PING, which the webhooks Worker
/// answers) and the guild's `/agency` command.
pub(crate) fn register_discord(
    project: &Project,
    webhooks: &str,
    source: &str,
) -> anyhow::Result<()> {
    let d = project
        .desired
        .discord
        .iter()
        .find(|d| d.id == source)
        .ok_or_else(|| anyhow!("no Discord source {source}"))?;
    let env = d
        .bot_token_env
        .as_deref()
        .ok_or_else(|| anyhow!("Discord source {source} has no bot_token_env"))?;
    let token = std::env::var(env).map_err(|_| anyhow!("environment variable {env} is not set"))?;
    let api = project
        .config
        .webhooks
        .discord_api
        .clone()
        .unwrap_or_else(|| "https://discord.com/api/v10".into());
    let api = api.trim_end_matches('/');
    let agent = super::http(std::time::Duration::from_secs(30));
    let auth = format!("Bot {token}");
    let calls = [
        (
            "PATCH",
            format!("{api}/applications/@me"),
            serde_json::json!({ "interactions_endpoint_url": format!("{webhooks}/discord/{source}") }),
        ),
        (
            // One command, created or updated by its name; the guild's others stay.
            "POST",
            format!(
                "{api}/applications/{}/guilds/{source}/commands",
                d.application_id
            ),
            serde_json::json!({
                "name": agency_webhook::discord::COMMAND,
                "type": 1,
                "description": "Ask the agency: approvals, halts, budgets, routing",
                "options": [{ "type": 3, "name": "text", "description": "What to ask", "required": false }],
            }),
        ),
    ];
    for (method, url, body) in calls {
        let req = if method == "PATCH" {
            agent.patch(&url)
        } else {
            agent.post(&url)
        };
        let mut resp = req
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| anyhow!("Discord {method} {}: {e}", url.replace(&token, "(token)")))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let said = resp.body_mut().read_to_string().unwrap_or_default();
            bail!(
                "Discord refused {method} {url} ({status}): {}",
                said.chars().take(300).collect::<String>()
            );
        }
    }
    Ok(())
}

/// What to paste into Slack's and Discord's settings, and where each part answers.
pub(crate) fn print_urls(project: &Project, url: &dyn Fn(Part) -> String) {
    let hooks = url(Part::Webhooks);
    println!("\nThe agency's Workers:");
    for w in &project.desired.workers {
        println!("  {:<12} {}", w.part.name(), url(w.part));
    }
    for id in &project.desired.slack {
        println!(
            "\nSlack app of workspace {id}: set each of these to {hooks}/slack/{id}\n  Event Subscriptions > Request URL (events: message.channels, app_mention)\n  Interactivity & Shortcuts > Request URL\n  Slash Commands > /agency > Request URL"
        );
    }
    for d in &project.desired.discord {
        let id = &d.id;
        if d.bot_token_env.is_some() {
            println!(
                "\nDiscord guild {id}: its interactions endpoint ({hooks}/discord/{id}) and /agency command are set"
            );
        } else {
            println!(
                "\nDiscord application of guild {id}: General Information > Interactions Endpoint URL = {hooks}/discord/{id}; give the source a bot_token_env to have apply set it and the /agency command"
            );
        }
    }
}
