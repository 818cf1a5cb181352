//! The documentation's links hold: every relative link in every Markdown page
//! of the repository names a file that exists, every `#anchor` names a heading
//! of its page, and every alert's `runbook_url` in `deploy/alerts.yml` names a
//! heading of the runbook page.
//!
//! Links are read with pulldown-cmark, so a link in a code block or inline
//! code is not a link, as on GitHub. Anchors are the slugs GitHub gives
//! headings: see [`slug`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

/// The repository's root: the root package's manifest folder.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every Markdown file under `dir`, skipping build output (`target/`) and
/// hidden folders (`.git`, `.ci`, …).
fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry
            .file_type()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if kind.is_dir() {
            if name != "target" && !name.starts_with('.') {
                markdown_files(&path, found);
            }
        } else if name.ends_with(".md") {
            found.push(path);
        }
    }
}

/// GitHub's anchor for a heading's text: lower case; every character that is
/// not a letter, a digit, a space, `-` or `_` dropped; each space a `-`. The
/// second heading with the same slug gets `-1`, the third `-2`, and so on
/// ([`Page::read`] numbers them).
fn slug(text: &str) -> String {
    text.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A link as written on a page, with the line it is on.
struct Link {
    line: usize,
    dest: String,
}

/// What the check needs of one Markdown page.
struct Page {
    anchors: HashSet<String>,
    links: Vec<Link>,
    /// `[text][label]` whose label is defined nowhere: rendered as plain
    /// text, so a link that silently went missing.
    broken_references: Vec<Link>,
}

impl Page {
    fn read(path: &Path) -> Page {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
        let mut broken = Vec::new();
        let mut on_broken = |link: pulldown_cmark::BrokenLink<'_>| {
            if matches!(link.link_type, LinkType::Reference) {
                broken.push(Link {
                    line: line_of(link.span.start),
                    dest: link.reference.to_string(),
                });
            }
            None
        };
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_FOOTNOTES;
        let parser = Parser::new_with_broken_link_callback(&text, options, Some(&mut on_broken));

        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut anchors = HashSet::new();
        let mut links = Vec::new();
        let mut heading: Option<String> = None;
        for (event, range) in parser.into_offset_iter() {
            match event {
                Event::Start(Tag::Heading { id, .. }) => {
                    if let Some(id) = id {
                        anchors.insert(id.to_string());
                    }
                    heading = Some(String::new());
                }
                Event::Text(t) | Event::Code(t) => {
                    if let Some(text) = heading.as_mut() {
                        text.push_str(&t);
                    }
                }
                Event::End(TagEnd::Heading(_)) => {
                    if let Some(text) = heading.take() {
                        let base = slug(&text);
                        let count = seen.entry(base.clone()).or_insert(0);
                        let anchor = if *count == 0 {
                            base
                        } else {
                            format!("{base}-{count}")
                        };
                        *count += 1;
                        anchors.insert(anchor);
                    }
                }
                Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                    links.push(Link {
                        line: line_of(range.start),
                        dest: dest_url.to_string(),
                    });
                }
                _ => {}
            }
        }
        Page {
            anchors,
            links,
            broken_references: broken,
        }
    }
}

/// Whether a link leaves the repository (`https:`, `mailto:`, …).
fn is_external(dest: &str) -> bool {
    let scheme = dest.split(':').next().unwrap_or_default();
    dest.contains(':')
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `base/relative` with `.` and `..` resolved, without touching the disk.
fn resolve(base: &Path, relative: &str) -> PathBuf {
    let mut out = PathBuf::new();
    let start = if relative.starts_with('/') {
        root()
    } else {
        base
    };
    for part in start.join(relative.trim_start_matches('/')).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The pages read so far, by path.
struct Pages(BTreeMap<PathBuf, Page>);

impl Pages {
    fn get(&mut self, path: &Path) -> &Page {
        self.0
            .entry(path.to_path_buf())
            .or_insert_with(|| Page::read(path))
    }

    /// What is wrong with `dest` written on `from`, if anything: a missing
    /// file, or an anchor no heading of its page has.
    fn check(&mut self, from: &Path, dest: &str) -> Option<String> {
        let (file, anchor) = match dest.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (dest, None),
        };
        let target = if file.is_empty() {
            from.to_path_buf()
        } else {
            let dir = from.parent().unwrap_or(root());
            resolve(dir, file)
        };
        let shown = target
            .strip_prefix(root())
            .unwrap_or(&target)
            .display()
            .to_string();
        if !target.exists() {
            return Some(format!("{shown} does not exist"));
        }
        let anchor = anchor.filter(|a| !a.is_empty())?;
        if target.extension().is_none_or(|e| e != "md") {
            return Some(format!(
                "#{anchor}: {shown} is not a Markdown page, it has no headings"
            ));
        }
        let page = self.get(&target);
        if page.anchors.contains(&anchor.to_lowercase()) {
            None
        } else {
            // The anchors that share the longest beginning with the one
            // wanted: usually the heading it was meant for.
            let wanted = anchor.to_lowercase();
            let common = |a: &str| {
                a.chars()
                    .zip(wanted.chars())
                    .take_while(|(x, y)| x == y)
                    .count()
            };
            let best = page.anchors.iter().map(|a| common(a)).max().unwrap_or(0);
            let mut near: Vec<&String> = page
                .anchors
                .iter()
                .filter(|a| best >= 4 && common(a) == best)
                .collect();
            near.sort();
            Some(format!(
                "no heading of {shown} has the anchor #{anchor}{}",
                if near.is_empty() {
                    String::new()
                } else {
                    format!(" (the nearest: {near:?})")
                }
            ))
        }
    }
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_link_between_the_pages_names_a_file_and_a_heading_that_exist() {
    let mut files = Vec::new();
    markdown_files(root(), &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("README.md")),
        "no README.md under {}",
        root().display()
    );
    let mut pages = Pages(BTreeMap::new());
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &files {
        let (links, broken): (Vec<_>, Vec<_>) = {
            let page = pages.get(file);
            (
                page.links
                    .iter()
                    .map(|l| (l.line, l.dest.clone()))
                    .collect(),
                page.broken_references
                    .iter()
                    .map(|l| (l.line, l.dest.clone()))
                    .collect(),
            )
        };
        for (line, label) in broken {
            failures.push(format!(
                "{}:{line}: link [{label}]: no link reference definition `[{label}]: …` on the page",
                shown(file)
            ));
        }
        for (line, dest) in links {
            if is_external(&dest) {
                continue;
            }
            checked += 1;
            if let Some(problem) = pages.check(file, &dest) {
                failures.push(format!("{}:{line}: link {dest}: {problem}", shown(file)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} links in {} Markdown files are broken:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_alert_has_a_runbook_url_to_a_heading_that_exists() {
    let rules = root().join("deploy/alerts.yml");
    let text =
        std::fs::read_to_string(&rules).unwrap_or_else(|e| panic!("{}: {e}", rules.display()));
    // (alert, line of its runbook_url, the URL); a rule without one keeps None.
    let mut alerts: Vec<(String, Option<(usize, String)>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- alert:") {
            alerts.push((name.trim().to_string(), None));
        } else if let Some(url) = line.strip_prefix("runbook_url:") {
            let url = url
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .to_string();
            let (name, slot) = alerts.last_mut().unwrap_or_else(|| {
                panic!("deploy/alerts.yml:{}: runbook_url before any alert", n + 1)
            });
            assert!(
                slot.is_none(),
                "deploy/alerts.yml:{}: {name} has a second runbook_url",
                n + 1
            );
            *slot = Some((n + 1, url));
        }
    }
    assert!(!alerts.is_empty(), "no alert in deploy/alerts.yml");
    let mut pages = Pages(BTreeMap::new());
    let mut failures = Vec::new();
    for (name, url) in &alerts {
        let Some((line, url)) = url else {
            failures.push(format!(
                "deploy/alerts.yml: {name} has no runbook_url annotation"
            ));
            continue;
        };
        // Relative to the repository's root, where an operator who hosts the
        // pages elsewhere puts their base URL.
        if is_external(url) || !url.contains('#') {
            failures.push(format!(
                "deploy/alerts.yml:{line}: {name}: runbook_url {url}: not of the form docs/PAGE.md#anchor"
            ));
            continue;
        }
        if let Some(problem) = pages.check(&root().join("README.md"), url) {
            failures.push(format!(
                "deploy/alerts.yml:{line}: {name}: runbook_url {url}: {problem}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} alerts have no working runbook_url:\n{}",
        failures.len(),
        alerts.len(),
        failures.join("\n")
    );
}

#[test]
fn anchors_are_githubs_slugs() {
    assert_eq!(slug("Status codes"), "status-codes");
    assert_eq!(
        slug("Deduplication: what a consumer team can rely on"),
        "deduplication-what-a-consumer-team-can-rely-on"
    );
    assert_eq!(slug("[server]"), "server");
    assert_eq!(slug("[[sources]]"), "sources");
    assert_eq!(
        slug("Run it like production (docker-compose)"),
        "run-it-like-production-docker-compose"
    );
    assert_eq!(
        slug("Replicas, probes and deploys"),
        "replicas-probes-and-deploys"
    );
    assert_eq!(slug("HookgateReplicaDown"), "hookgatereplicadown");
    assert_eq!(slug("snake_case and a-dash"), "snake_case-and-a-dash");
    assert_eq!(slug("Kafka: TLS and SASL"), "kafka-tls-and-sasl");
}

#[test]
fn repeated_headings_are_numbered() {
    let dir = std::env::temp_dir().join(format!("hookgate-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let page = dir.join("page.md");
    std::fs::write(
        &page,
        "# Notes\n\n## Example\n\n## Example\n\n### `[log]`\n\nSee [the second](#example-1), [log](#log).\n",
    )
    .expect("a temporary page");
    let read = Page::read(&page);
    let mut anchors: Vec<&str> = read.anchors.iter().map(String::as_str).collect();
    anchors.sort_unstable();
    assert_eq!(anchors, ["example", "example-1", "log", "notes"]);
    let mut pages = Pages(BTreeMap::new());
    assert_eq!(pages.check(&page, "#example-1"), None);
    assert!(
        pages
            .check(&page, "#example-2")
            .is_some_and(|p| p.contains("#example-2")),
        "a third Example is not there"
    );
    assert!(pages.check(&page, "missing.md").is_some());
    std::fs::remove_dir_all(&dir).expect("the temporary folder removed");
}
