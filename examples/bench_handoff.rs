//! Handoff benchmark driver (loopback only): the desktop's live streams and how soon they
//! hear a verdict.
//!
//! 1. **Verdicts**: `--verdicts K` handoffs, `--concurrency C` at a time. Each desktop
//!    starts on the first instance and follows its live stream there; its phone opens the
//!    link, presses Continue and runs the operator's hops on the second instance, whose
//!    callback writes the verdict. Measured per handoff: callback sent → callback answered
//!    (the operator's token and check included), and callback sent → the desktop's
//!    verdict event (the same plus the hop between instances: Redis Pub/Sub).
//! 2. **Streams**: `--streams N` desktops each start a handoff and open its stream on the
//!    first instance, held all at once; with `--pid` (that instance's process id) its
//!    resident memory before and after opening them.
//!
//! Prints one line: `verdicts=<ok> errors=<n> callback_p50_ms=… callback_p99_ms=…
//! event_p50_ms=… event_p99_ms=… streams=<open> rss_before_kb=… rss_after_kb=…`.
//!
//! Usage: `bench_handoff --desktop http://127.0.0.1:A --phone http://127.0.0.1:B
//!         [--verdicts 200] [--concurrency 8] [--streams 1000] [--pid PID]`
//! Build: `cargo build --release --features ssr --example bench_handoff`

use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{header, redirect::Policy, Client, Response, Url};

/// The virtual operator's verified number (its default SIM's).
const PHONE: &str = "+99012345678";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HOPS: usize = 10;

struct Args {
    desktop: Url,
    phone: Url,
    verdicts: usize,
    concurrency: usize,
    streams: usize,
    pid: Option<u32>,
}

fn usage(why: &str) -> ! {
    eprintln!("bench_handoff: {why}");
    eprintln!(
        "usage: bench_handoff --desktop URL --phone URL [--verdicts K (200)] [--concurrency C (8)] \
         [--streams N (1000)] [--pid PID]"
    );
    std::process::exit(2);
}

fn loopback(value: &str) -> Url {
    let url = Url::parse(value).unwrap_or_else(|e| usage(&format!("bad URL {value}: {e}")));
    match url.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]") => url,
        _ => usage(&format!("{value}: loopback instances only")),
    }
}

fn parse_args() -> Args {
    let (mut desktop, mut phone) = (None, None);
    let (mut verdicts, mut concurrency, mut streams, mut pid) = (200usize, 8usize, 1000usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let mut count = |range: std::ops::RangeInclusive<usize>| {
            let n: usize = value()
                .parse()
                .unwrap_or_else(|_| usage(&format!("{flag} must be a whole number")));
            if !range.contains(&n) {
                usage(&format!("{flag} must be within {range:?}"));
            }
            n
        };
        match flag.as_str() {
            "--desktop" => desktop = Some(loopback(&value())),
            "--phone" => phone = Some(loopback(&value())),
            "--verdicts" => verdicts = count(1..=100_000),
            "--concurrency" => concurrency = count(1..=512),
            "--streams" => streams = count(0..=20_000),
            "--pid" => pid = Some(count(1..=u32::MAX as usize) as u32),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    Args {
        desktop: desktop.unwrap_or_else(|| usage("--desktop is required")),
        phone: phone.unwrap_or_else(|| usage("--phone is required")),
        verdicts,
        concurrency,
        streams,
        pid,
    }
}

/// A browser's cookie jar, by hand: one session cookie per browser here.
#[derive(Default)]
struct Jar(Vec<String>);

impl Jar {
    fn keep(&mut self, response: &Response) {
        for set in response.headers().get_all(header::SET_COOKIE) {
            if let Some(pair) = set.to_str().ok().and_then(|s| s.split(';').next()) {
                let name = pair.split('=').next().unwrap_or_default();
                self.0.retain(|c| !c.starts_with(&format!("{name}=")));
                self.0.push(pair.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0.join("; ")
    }
}

fn location(response: &Response) -> Result<Url, String> {
    let to = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("no Location on {} {}", response.status(), response.url()))?;
    response.url().join(to).map_err(|e| e.to_string())
}

/// `url` as `instance` serves it.
fn on(instance: &Url, url: &Url) -> Url {
    let mut out = instance.clone();
    out.set_path(url.path());
    out.set_query(url.query());
    out
}

/// A desktop with a handoff started on `base`: its cookie, watch id and the phone's link.
async fn start_handoff(client: &Client, base: &Url) -> Result<(Jar, String, Url), String> {
    let mut jar = Jar::default();
    let post = client
        .post(base.join("/api/handoff/start").unwrap())
        .header(header::ACCEPT, "text/html")
        .form(&[("phone", PHONE)])
        .send()
        .await
        .map_err(|e| format!("start: {e}"))?;
    jar.keep(&post);
    let page = location(&post)?;
    let watch = page
        .query_pairs()
        .find(|(k, _)| k == "handoff")
        .map(|(_, v)| v.into_owned())
        .ok_or("start: no handoff in the page's address")?;
    let html = client
        .get(page)
        .header(header::COOKIE, jar.header())
        .send()
        .await
        .and_then(Response::error_for_status)
        .map_err(|e| format!("desktop page: {e}"))?
        .text()
        .await
        .map_err(|e| format!("desktop page: {e}"))?;
    let marker = "data-handoff-url=\"";
    let at = html.find(marker).ok_or("desktop page: no link")? + marker.len();
    let end = html[at..].find('"').ok_or("desktop page: no link")? + at;
    let link = Url::parse(&html[at..end].replace("&amp;", "&")).map_err(|e| e.to_string())?;
    Ok((jar, watch, link))
}

/// The desktop's live stream, read event by event.
struct Stream {
    response: Response,
    buffer: String,
}

impl Stream {
    async fn open(client: &Client, base: &Url, jar: &Jar, watch: &str) -> Result<Stream, String> {
        let response = client
            .get(base.join(&format!("/handoff/events?w={watch}")).unwrap())
            .header(header::ACCEPT, "text/event-stream")
            .header(header::COOKIE, jar.header())
            .send()
            .await
            .and_then(Response::error_for_status)
            .map_err(|e| format!("events: {e}"))?;
        Ok(Stream {
            response,
            buffer: String::new(),
        })
    }

    /// The next event's data (the JSON text).
    async fn next(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                    return Ok(data.trim_start().to_owned());
                }
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) => return Err("events: the stream ended".into()),
                Err(e) => return Err(format!("events: {e}")),
            }
        }
    }
}

/// One whole handoff; the callback's duration and callback sent → the desktop's verdict.
async fn handoff(client: &Client, desktop: &Url, phone: &Url) -> Result<(Duration, Duration), String> {
    let (jar, watch, link) = start_handoff(client, desktop).await?;
    let mut events = Stream::open(client, desktop, &jar, &watch).await?;
    events.next().await?; // waiting

    let mut phone_jar = Jar::default();
    let secret = link.query_pairs().find(|(k, _)| k == "h").map(|(_, v)| v.into_owned());
    let pressed = client
        .post(phone.join("/api/handoff/continue").unwrap())
        .header(header::ACCEPT, "text/html")
        .form(&[("h", secret.unwrap_or_default())])
        .send()
        .await
        .map_err(|e| format!("continue: {e}"))?;
    phone_jar.keep(&pressed);
    let mut next = location(&pressed)?;
    let mut callback = None;
    for _ in 0..MAX_HOPS {
        if next.path() == "/callback" {
            callback = Some(on(phone, &next));
            break;
        }
        let hop = client
            .get(next.clone())
            .send()
            .await
            .map_err(|e| format!("operator: {e}"))?;
        next = location(&hop)?;
    }
    let callback = callback.ok_or("the operator never sent the phone back")?;
    let sent = Instant::now();
    let done = client
        .get(callback)
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, phone_jar.header())
        .send()
        .await
        .map_err(|e| format!("callback: {e}"))?;
    let answered = sent.elapsed();
    if location(&done)?.path() != "/handoff" {
        return Err("callback: not sent to the phone's done page".into());
    }
    loop {
        let event = events.next().await?;
        if event.contains("\"final\"") {
            if !event.contains("\"verified\"") {
                return Err(format!("verdict: {event}"));
            }
            return Ok((answered, sent.elapsed()));
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args();
    let client = Client::builder()
        .redirect(Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()
        .expect("an HTTP client");

    // 1. Verdicts, C at a time.
    let timings = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, desktop, phone) = (client.clone(), args.desktop.clone(), args.phone.clone());
            let (timings, errors, next, total) = (timings.clone(), errors.clone(), next.clone(), args.verdicts);
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    match handoff(&client, &desktop, &phone).await {
                        Ok(t) => timings.lock().unwrap().push(t),
                        Err(e) => errors.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let timings = std::mem::take(&mut *timings.lock().unwrap());
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    for e in errors.iter().take(5) {
        eprintln!("bench_handoff: {e}");
    }
    let mut callbacks: Vec<Duration> = timings.iter().map(|t| t.0).collect();
    let mut events: Vec<Duration> = timings.iter().map(|t| t.1).collect();
    callbacks.sort();
    events.sort();

    // 2. Streams held at once.
    let mut held = Vec::with_capacity(args.streams);
    let mut handoffs = Vec::with_capacity(args.streams);
    for _ in 0..args.streams {
        match start_handoff(&client, &args.desktop).await {
            Ok((jar, watch, _)) => handoffs.push((jar, watch)),
            Err(e) => {
                eprintln!("bench_handoff: streams: {e}");
                break;
            }
        }
    }
    let before = args.pid.and_then(rss_kb);
    // One connection per stream: a client of its own, as each desktop is.
    let streaming = Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(3600))
        .build()
        .expect("an HTTP client");
    for (jar, watch) in &handoffs {
        match Stream::open(&streaming, &args.desktop, jar, watch).await {
            Ok(mut stream) => match stream.next().await {
                Ok(_) => held.push(stream),
                Err(e) => eprintln!("bench_handoff: streams: {e}"),
            },
            Err(e) => {
                eprintln!("bench_handoff: streams: {e}");
                break;
            }
        }
    }
    let after = args.pid.and_then(rss_kb);
    println!(
        "verdicts={} errors={} callback_p50_ms={:.1} callback_p99_ms={:.1} event_p50_ms={:.1} event_p99_ms={:.1} \
         streams={} rss_before_kb={} rss_after_kb={}",
        timings.len(),
        errors.len(),
        percentile(&callbacks, 0.50),
        percentile(&callbacks, 0.99),
        percentile(&events, 0.50),
        percentile(&events, 0.99),
        held.len(),
        before.unwrap_or(0),
        after.unwrap_or(0),
    );
    drop(held);
    if errors.is_empty() && timings.len() == args.verdicts {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
