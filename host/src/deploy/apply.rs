//! `agency deploy apply` and `destroy`: the plan carried out with the platform's own
//! tools (Wrangler for deploys, secrets and migrations; the API for what Wrangler has
//! no command for), one step at a time, each step's outcome recorded before the next
//! (`record.json` in the environment's directory), so an apply that stopped half way
//! plans only the rest, and a second apply finds nothing to do.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use agency_deploy::{Local, Observed, Plan, Resource, Step, plan};
use agency_kit::Part;
use agency_kit::service::ROLE_TOKENS;
use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::cloud::Cloud;
use super::dev::wrangler;
use super::{Project, platforms};

/// What earlier applies of one environment did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Record {
    /// Resource name -> id, for what apply created.
    pub ids: BTreeMap<String, String>,
    /// Worker -> the digest it was last deployed from with every binding.
    pub workers: BTreeMap<String, String>,
    pub migrated: BTreeMap<String, BTreeSet<String>>,
    pub graph: Option<String>,
    /// Source -> a digest of what its registration sent.
    pub telegram: BTreeMap<String, String>,
    pub discord: BTreeMap<String, String>,
    /// Worker -> secret -> the digest of the value it was put with.
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
}

impl Record {
    pub fn load(path: &Path) -> anyhow::Result<Record> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{}: not a deploy record", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(anyhow!("{}: cannot read: {e}", path.display())),
        }
    }

    /// Written whole, then renamed over the old one: a kill leaves one or the other.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// How `apply` runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The environment's directory: generated configuration, the record, tokens.
    pub dir: PathBuf,
    /// The Workers are built already (else `worker-build --release` runs for each).
    pub prebuilt: bool,
    /// A deployed Worker's public URL, `{worker}` and `{subdomain}` filled in.
    pub workers_url: String,
}

/// The default public URL of a Worker.
pub const WORKERS_DEV: &str = "https://{worker}.{subdomain}.workers.dev";

/// The account and the record, as the plan sees them.
pub fn observe(project: &Project, cloud: &Cloud, record: &Record) -> anyhow::Result<Observed> {
    let account = cloud.account()?;
    let mut o = Observed {
        resources: account
            .resources
            .into_iter()
            .filter(|(r, _)| project.desired.names.owns(r.name()))
            .collect(),
        migrated: record.migrated.clone(),
        graph: record.graph.clone(),
        telegram: record.telegram.clone(),
        discord: record.discord.clone(),
        secret_digests: record
            .secrets
            .iter()
            .flat_map(|(w, m)| {
                m.iter()
                    .map(move |(n, d)| ((w.clone(), n.clone()), d.clone()))
            })
            .collect(),
        ..Observed::default()
    };
    // A database that is not there any more has lost its migrations with it.
    o.migrated
        .retain(|db, _| o.resources.contains_key(&Resource::Database(db.clone())));
    for w in &project.desired.workers {
        if account.workers.contains(&w.name) {
            o.workers
                .insert(w.name.clone(), record.workers.get(&w.name).cloned());
            o.secrets.insert(w.name.clone(), cloud.secrets(&w.name)?);
        }
    }
    Ok(o)
}

/// The role tokens an earlier apply made up (`tokens.env`).
pub fn kept_tokens(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join("tokens.env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The role tokens: from the environment, else the ones an earlier apply generated
/// (kept in `tokens.env`, readable by this user only), else made now and printed once.
/// Never made up while the Workers hold tokens this machine does not know: that would
/// replace what every client uses.
fn role_tokens(
    project: &Project,
    observed: &Observed,
    dir: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let file = dir.join("tokens.env");
    let mut kept = kept_tokens(dir);
    for t in ROLE_TOKENS {
        let known = std::env::var(t).is_ok_and(|v| !v.is_empty()) || kept.contains_key(*t);
        let held = project.desired.workers.iter().any(|w| {
            observed
                .secrets
                .get(&w.name)
                .is_some_and(|s| s.contains(*t))
        });
        if !known && held {
            bail!(
                "the Workers of environment {} hold {t}, which neither the environment nor {} knows: set {t} (and the other role tokens) to the values your clients use",
                project.desired.names.env(),
                file.display()
            );
        }
    }
    let mut made = Vec::new();
    let mut out = BTreeMap::new();
    for t in ROLE_TOKENS {
        let v = match std::env::var(t).ok().filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => match kept.get(*t) {
                Some(v) => v.clone(),
                None => {
                    let v = crate::server::generate_token()?;
                    kept.insert((*t).to_owned(), v.clone());
                    made.push(format!("  {t}={v}"));
                    v
                }
            },
        };
        out.insert((*t).to_owned(), v);
    }
    if !made.is_empty() {
        let text: String = kept.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        write_private(&file, &text)?;
        println!(
            "Role tokens generated (set them in the environment to choose your own); kept in {}:",
            file.display()
        );
        for m in made {
            println!("{m}");
        }
    }
    Ok(out)
}

/// Writes `text` readable by this user only.
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The record of earlier applies and the account as the plan sees them; the record's
/// ids updated with the account's.
fn read_account(
    project: &Project,
    cloud: &Cloud,
    dir: &Path,
) -> anyhow::Result<(Record, Observed)> {
    let mut record = Record::load(&dir.join("record.json"))?;
    let observed = observe(project, cloud, &record)?;
    for (r, id) in &observed.resources {
        record.ids.insert(r.name().to_owned(), id.clone());
    }
    Ok((record, observed))
}

/// Where the deployed Workers answer: the URL template, with the account's
/// `workers.dev` subdomain when the template needs it.
struct Urls<'a> {
    project: &'a Project,
    template: &'a str,
    subdomain: String,
}

impl<'a> Urls<'a> {
    fn new(project: &'a Project, cloud: &Cloud, template: &'a str) -> anyhow::Result<Urls<'a>> {
        let subdomain = if template.contains("{subdomain}") {
            cloud.subdomain()?
        } else {
            String::new()
        };
        Ok(Urls {
            project,
            template,
            subdomain,
        })
    }

    fn of(&self, part: Part) -> String {
        self.template
            .replace("{worker}", &self.project.desired.names.worker(part))
            .replace("{subdomain}", &self.subdomain)
    }
}

/// What this machine would deploy now, with `tokens` as the role tokens and the
/// chat registrations for the webhooks Worker at its URL.
fn local_now(
    project: &Project,
    dir: &Path,
    record: &Record,
    tokens: &BTreeMap<String, String>,
    urls: &Urls<'_>,
) -> anyhow::Result<Local> {
    let layout = project.layout(dir, &record.ids, true)?;
    let mut local = project.local(&layout, tokens);
    local.hooks = platforms::hooks(project, &urls.of(Part::Webhooks));
    Ok(local)
}

/// Runs `cmd` (a Wrangler command), failing with its output when it fails.
fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .env("CI", "1")
        .env("WRANGLER_SEND_METRICS", "false")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot run wrangler (scripts/tools.sh installs it)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Carries out the plan. Exit code: 0 done (or nothing to do), 2 something missing.
pub fn apply(project: &Project, cloud: &Cloud, opts: &ApplyOptions) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("{}: cannot create", opts.dir.display()))?;
    if !opts.prebuilt {
        for w in &project.desired.workers {
            println!("building the {} Worker", w.part);
            let mut cmd = Command::new("worker-build");
            cmd.arg("--release")
                .current_dir(project.root.join("workers").join(w.part.name()));
            run(cmd, &format!("worker-build for {}", w.part))?;
        }
    }
    let record_file = opts.dir.join("record.json");
    let (mut record, observed) = read_account(project, cloud, &opts.dir)?;
    let tokens = role_tokens(project, &observed, &opts.dir)?;
    let urls = Urls::new(project, cloud, &opts.workers_url)?;
    let url = |part: Part| urls.of(part);
    let local = local_now(project, &opts.dir, &record, &tokens, &urls)?;
    let p = plan(&project.desired, &observed, &local);
    if !p.complete() {
        println!("Missing before anything can happen:");
        for m in &p.missing {
            println!("  - {}", m.describe());
        }
        return Ok(2);
    }
    if p.nothing_to_do() {
        println!(
            "Nothing to do: environment {} is as agency.toml describes it.",
            p.env
        );
    }
    let mut failed = Vec::new();
    for (i, step) in p.steps.iter().enumerate() {
        println!("[{}/{}] {}", i + 1, p.steps.len(), step.describe());
        let done = carry_out(
            project,
            cloud,
            opts,
            &mut record,
            &tokens,
            &local,
            &url,
            step,
        );
        match (done, step) {
            (Ok(()), _) => record.save(&record_file)?,
            (Err(e), Step::Check { .. }) => failed.push(format!("{e:#}")),
            (Err(e), _) => {
                record.save(&record_file)?;
                return Err(e.context(format!(
                    "step {} of {} ({}) failed; run apply again to go on from there",
                    i + 1,
                    p.steps.len(),
                    step.describe()
                )));
            }
        }
    }
    platforms::print_urls(project, &url);
    if !failed.is_empty() {
        bail!("health checks failed:\n{}", failed.join("\n"));
    }
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn carry_out(
    project: &Project,
    cloud: &Cloud,
    opts: &ApplyOptions,
    record: &mut Record,
    tokens: &BTreeMap<String, String>,
    local: &Local,
    url: &dyn Fn(Part) -> String,
    step: &Step,
) -> anyhow::Result<()> {
    let config_of = |part: Part, omit: &[Part], record: &Record| -> anyhow::Result<PathBuf> {
        let layout = project.layout(&opts.dir, &record.ids, true)?;
        let mut omits = BTreeMap::new();
        omits.insert(part, omit.to_vec());
        let files = project.write_configs(&opts.dir, &layout, &omits)?;
        files
            .get(&part)
            .cloned()
            .ok_or_else(|| anyhow!("no configuration for {part}"))
    };
    match step {
        Step::Create { resource } => {
            let id = cloud.create(resource)?;
            record.ids.insert(resource.name().to_owned(), id);
        }
        Step::Migrate {
            part,
            database,
            migrations,
        } => {
            let config = config_of(*part, &[], record)?;
            let mut cmd = wrangler();
            cmd.args(["d1", "migrations", "apply", "DB", "--remote", "--config"])
                .arg(&config);
            run(cmd, &format!("migrating {database}"))?;
            record
                .migrated
                .entry(database.clone())
                .or_default()
                .extend(migrations.iter().cloned());
        }
        Step::Deploy {
            part,
            worker,
            without,
        } => {
            let config = config_of(*part, without, record)?;
            let mut cmd = wrangler();
            cmd.args(["deploy", "--config"]).arg(&config);
            run(cmd, &format!("deploying {worker}"))?;
            if without.is_empty() {
                let layout = project.layout(&opts.dir, &record.ids, true)?;
                record
                    .workers
                    .insert(worker.clone(), project.digest(*part, &layout));
            } else {
                record.workers.remove(worker);
            }
        }
        Step::Secrets {
            worker, secrets, ..
        } => {
            let mut values = serde_json::Map::new();
            for s in secrets {
                let v = match tokens.get(&s.name) {
                    Some(t) if s.generated => t.clone(),
                    _ => std::env::var(&s.from)
                        .map_err(|_| anyhow!("environment variable {} is not set", s.from))?,
                };
                values.insert(s.name.clone(), serde_json::Value::String(v));
            }
            let digests: BTreeMap<String, String> = values
                .iter()
                .map(|(k, v)| {
                    let text = v.as_str().unwrap_or_default();
                    (k.clone(), agency_deploy::Secret::digest(text))
                })
                .collect();
            let file = opts.dir.join(format!(".secrets-{worker}.json"));
            write_private(&file, &serde_json::Value::Object(values).to_string())?;
            let mut cmd = wrangler();
            cmd.args(["secret", "bulk"])
                .arg(&file)
                .args(["--name", worker]);
            let done = run(cmd, &format!("the secrets of {worker}"));
            let _ = std::fs::remove_file(&file);
            done?;
            record
                .secrets
                .entry(worker.clone())
                .or_default()
                .extend(digests);
        }
        Step::PushGraph { version } => {
            let json = project
                .graph_json
                .as_deref()
                .ok_or_else(|| anyhow!("no graph"))?;
            let token = &tokens["AGENCY_OPERATOR_TOKEN"];
            super::push_graph(&url(Part::SkillGraph), token, json)?;
            record.graph = Some(version.clone());
        }
        Step::RegisterTelegram { source } => {
            platforms::register_telegram(project, &url(Part::Webhooks), source)?;
            let key = format!("telegram:{source}");
            if let Some(d) = local.hooks.get(&key) {
                record.telegram.insert(source.clone(), d.clone());
            }
        }
        Step::RegisterDiscord { source } => {
            platforms::register_discord(project, &url(Part::Webhooks), source)?;
            let key = format!("discord:{source}");
            if let Some(d) = local.hooks.get(&key) {
                record.discord.insert(source.clone(), d.clone());
            }
        }
        Step::Check { part, worker } => {
            let health = format!("{}/health", url(*part));
            let agent = super::http(std::time::Duration::from_secs(20));
            // A new workers.dev route may take a little while to answer.
            let mut last = String::new();
            for wait in [0, 2, 4, 8, 15, 30] {
                std::thread::sleep(std::time::Duration::from_secs(wait));
                match agent.get(&health).call().map(|r| r.status().as_u16()) {
                    Ok(200) => {
                        println!("      {worker} is up");
                        return Ok(());
                    }
                    Ok(status) => last = format!("answered {status}"),
                    Err(e) => last = e.to_string(),
                }
            }
            bail!("{worker}: {health}: {last}");
        }
    }
    Ok(())
}

/// `agency deploy destroy`: the environment's Workers and resources go; the archive
/// bucket stays unless `archive`.
pub fn destroy(project: &Project, cloud: &Cloud, dir: &Path, archive: bool) -> anyhow::Result<()> {
    let account = cloud.account()?;
    for w in &project.desired.workers {
        if account.workers.contains(&w.name) {
            println!("deleting the Worker {}", w.name);
            let mut cmd = wrangler();
            cmd.args(["delete", "--name", &w.name, "--force"]);
            run(cmd, &format!("deleting {}", w.name))?;
        }
    }
    // The bucket last: it refuses to go while it holds archives, and that should not
    // keep the rest.
    let mut resources = project.desired.resources();
    resources.reverse();
    resources.sort_by_key(|r| matches!(r, Resource::Bucket(_)));
    let mut failed = Vec::new();
    for r in &resources {
        if matches!(r, Resource::Bucket(_)) && !archive {
            if account.resources.contains_key(r) {
                println!(
                    "keeping {} {} (pass --archive to delete it)",
                    r.kind(),
                    r.name()
                );
            }
            continue;
        }
        if let Some(id) = account.resources.get(r) {
            println!("deleting {} {}", r.kind(), r.name());
            if let Err(e) = cloud.delete(r, id) {
                failed.push(format!("{} {}: {e:#}", r.kind(), r.name()));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "these could not be deleted (an R2 bucket must be empty first):\n{}",
            failed.join("\n")
        );
    }
    for f in ["record.json", "tokens.env"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    println!("Environment {} is gone.", project.desired.names.env());
    Ok(())
}

/// Whether nothing is left to do for `project` (a plan against the account).
pub fn settled(
    project: &Project,
    cloud: &Cloud,
    dir: &Path,
    workers_url: &str,
) -> anyhow::Result<Plan> {
    let (record, observed) = read_account(project, cloud, dir)?;
    let urls = Urls::new(project, cloud, workers_url)?;
    let local = local_now(project, dir, &record, &kept_tokens(dir), &urls)?;
    Ok(plan(&project.desired, &observed, &local))
}
