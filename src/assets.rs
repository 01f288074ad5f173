//! The site's static files — the wasm bundle, its JS glue, the stylesheet, the favicon —
//! read once at start-up, compressed once at the highest levels, and served from memory
//! by `Accept-Encoding`.
//!
//! The bundle and the stylesheet are also served under names that carry a hash of their
//! content (`/pkg/number-verify.<hash>.wasm`), which the page links and browsers may
//! cache for a year. The hash is computed here from the bytes served rather than by
//! cargo-leptos' `hash-files`: that needs `LEPTOS_HASH_FILES` and a `hash.txt` beside the
//! binary at run time, and Leptos reads that file again on every render.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use axum::{
    body::{Body, Bytes},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

/// Files at least this big are compressed; below it the saving is smaller than a header.
const COMPRESS_FROM: usize = 1024;
/// Above this, a file is a development bundle (a debug wasm is several MB): compressed at
/// cheaper levels so a dev server starts at once. Release bundles are far smaller.
const DEV_BUNDLE_FROM: usize = 2 * 1024 * 1024;
/// Hashed names never change content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Plain names may change with a deploy: revalidated (a 304 with the ETag) on each use.
const REVALIDATE: &str = "no-cache";

/// Marks a response as already encoded, so the dynamic compression layer leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct Precompressed;

/// The static files, by URL path.
#[derive(Default)]
pub struct Assets {
    routes: HashMap<String, Served>,
    /// `output-name.<hash>` of the JS glue and the wasm, for the hydration scripts.
    bundle_name: Option<String>,
    stylesheet: Option<String>,
}

/// One file under one URL: its bytes and how long browsers may keep it.
#[derive(Clone)]
pub struct Served {
    file: Arc<File>,
    cache_control: &'static str,
}

struct File {
    raw: Bytes,
    content_type: &'static str,
    /// A strong validator; each encoding is its own representation, with its own tag.
    hash: String,
    compressible: bool,
    brotli: OnceLock<Option<Bytes>>,
    gzip: OnceLock<Option<Bytes>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Assets {
    /// Reads every file under `site_root` (skipping what cannot be read, with a log
    /// line) and names the bundle `output_name.<hash>`. Compression starts in the
    /// background; a request that comes before it is done waits for its own encoding.
    pub fn load(site_root: &Path, pkg_dir: &str, output_name: &str) -> Self {
        let mut files = Vec::new();
        collect_files(site_root, site_root, &mut files);
        let mut assets = Assets::default();
        let mut by_name: HashMap<String, Arc<File>> = HashMap::new();
        for (url_path, path) in files {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let file = Arc::new(File::new(bytes, content_type(&url_path)));
                    by_name.insert(url_path.clone(), file.clone());
                    assets.routes.insert(
                        url_path,
                        Served {
                            file,
                            cache_control: REVALIDATE,
                        },
                    );
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read a static file; not served"),
            }
        }

        let pkg = format!("/{}", pkg_dir.trim_matches('/'));
        let js = by_name.get(&format!("{pkg}/{output_name}.js"));
        // wasm-bindgen's name when Leptos was compiled without LEPTOS_OUTPUT_NAME.
        let wasm = by_name
            .get(&format!("{pkg}/{output_name}.wasm"))
            .or_else(|| by_name.get(&format!("{pkg}/{output_name}_bg.wasm")));
        if let (Some(js), Some(wasm)) = (js, wasm) {
            // One name for the pair: the glue is generated for exactly this wasm.
            let hash = short_hash(&[&js.raw, &wasm.raw]);
            let bundle = format!("{output_name}.{hash}");
            for (path, file) in [
                (format!("{pkg}/{bundle}.js"), js),
                (format!("{pkg}/{bundle}.wasm"), wasm),
                (format!("{pkg}/{bundle}_bg.wasm"), wasm),
            ] {
                assets.routes.insert(
                    path,
                    Served {
                        file: file.clone(),
                        cache_control: IMMUTABLE,
                    },
                );
            }
            assets.bundle_name = Some(bundle);
        }
        if let Some(css) = by_name.get(&format!("{pkg}/{output_name}.css")) {
            let path = format!("{pkg}/{output_name}.{}.css", short_hash(&[&css.raw]));
            assets.routes.insert(
                path.clone(),
                Served {
                    file: css.clone(),
                    cache_control: IMMUTABLE,
                },
            );
            assets.stylesheet = Some(path);
        }
        assets
    }

    /// Compresses every file once, on a thread of its own, so the first downloads find
    /// their encodings ready. Returns at once.
    pub fn precompress_in_background(&self) {
        let files: Vec<Arc<File>> = self.routes.values().map(|s| s.file.clone()).collect();
        let spawned = std::thread::Builder::new().name("precompress".into()).spawn(move || {
            for file in files {
                file.compressed(Encoding::Brotli);
                file.compressed(Encoding::Gzip);
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the compression thread; files are compressed on first use");
        }
    }

    /// The URL paths served, with what each serves.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &Served)> {
        self.routes.iter().map(|(path, served)| (path.as_str(), served))
    }

    /// `output-name.<hash>`, the name the hydration scripts load, when the bundle exists.
    pub fn bundle_name(&self) -> Option<&str> {
        self.bundle_name.as_deref()
    }

    /// The stylesheet's hashed URL path, when it exists.
    pub fn stylesheet(&self) -> Option<&str> {
        self.stylesheet.as_deref()
    }
}

impl Served {
    /// The file in the best encoding the request accepts, or `304` when the browser's copy
    /// is current.
    pub async fn respond(&self, request: &HeaderMap) -> Response {
        let encoding = if self.file.compressible {
            Encoding::preferred(request.get(header::ACCEPT_ENCODING))
        } else {
            Encoding::Identity
        };
        let file = self.file.clone();
        let compressed = match file.cached(encoding) {
            Some(compressed) => compressed,
            // Not compressed yet (the server has just started): wait for it, off the
            // async workers.
            None => match tokio::task::spawn_blocking(move || file.compressed(encoding)).await {
                Ok(compressed) => compressed,
                Err(e) => {
                    tracing::error!(error = %e, "compressing a static file failed");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            },
        };
        let (encoding, body) = match compressed {
            Some(body) => (encoding, body),
            None => (Encoding::Identity, self.file.raw.clone()),
        };
        let etag = self.file.etag(encoding);
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(self.cache_control));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        if self.file.compressible {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        let mut response = if if_none_match(request, &etag) {
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.file.content_type));
            if let Some(name) = encoding.header_value() {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
            }
            (headers, Body::from(body)).into_response()
        };
        response.extensions_mut().insert(Precompressed);
        response
    }
}

impl File {
    fn new(raw: Vec<u8>, content_type: &'static str) -> Self {
        let compressible = raw.len() >= COMPRESS_FROM && is_compressible(content_type);
        Self {
            hash: short_hash(&[&raw]),
            raw: Bytes::from(raw),
            content_type,
            compressible,
            brotli: OnceLock::new(),
            gzip: OnceLock::new(),
        }
    }

    fn cell(&self, encoding: Encoding) -> Option<&OnceLock<Option<Bytes>>> {
        match encoding {
            Encoding::Brotli => Some(&self.brotli),
            Encoding::Gzip => Some(&self.gzip),
            Encoding::Identity => None,
        }
    }

    /// The file compressed in `encoding`, if that is done: `Some(None)` when the file is
    /// served as it is (identity asked, too small, or compression would not shrink it).
    fn cached(&self, encoding: Encoding) -> Option<Option<Bytes>> {
        match self.cell(encoding) {
            Some(cell) if self.compressible => cell.get().cloned(),
            _ => Some(None),
        }
    }

    /// The file compressed in `encoding`, compressed on the first call (concurrent callers
    /// wait for that one); `None` when it is served as it is.
    fn compressed(&self, encoding: Encoding) -> Option<Bytes> {
        let cell = self.cell(encoding).filter(|_| self.compressible)?;
        let dev = self.raw.len() >= DEV_BUNDLE_FROM;
        cell.get_or_init(|| {
            let compressed = match encoding {
                Encoding::Brotli => brotli_compress(&self.raw, if dev { 5 } else { 11 }),
                _ => gzip_compress(&self.raw, if dev { 6 } else { 9 }),
            };
            (compressed.len() < self.raw.len()).then(|| Bytes::from(compressed))
        })
        .clone()
    }

    fn etag(&self, encoding: Encoding) -> String {
        match encoding {
            Encoding::Brotli => format!("\"{}-br\"", self.hash),
            Encoding::Gzip => format!("\"{}-gz\"", self.hash),
            Encoding::Identity => format!("\"{}\"", self.hash),
        }
    }
}

impl Encoding {
    /// The best encoding `Accept-Encoding` allows: brotli, then gzip, else identity.
    /// `q=0` refuses an encoding; `*` stands for any not named.
    pub fn preferred(accept: Option<&HeaderValue>) -> Self {
        if Self::accepted(accept, Encoding::Brotli) {
            Encoding::Brotli
        } else if Self::accepted(accept, Encoding::Gzip) {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }

    /// Whether `Accept-Encoding` allows `encoding` (identity always).
    pub fn accepted(accept: Option<&HeaderValue>, encoding: Encoding) -> bool {
        let wanted: &[&str] = match encoding {
            Encoding::Brotli => &["br"],
            Encoding::Gzip => &["gzip", "x-gzip"],
            Encoding::Identity => return true,
        };
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let mut named = None;
        let mut any = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if wanted.contains(&name.as_str()) {
                named = Some(q);
            } else if name == "*" {
                any = Some(q);
            }
        }
        named.or(any).is_some_and(|q| q > 0.0)
    }

    fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }
}

/// Whether `If-None-Match` names this representation.
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn brotli_compress(raw: &[u8], quality: i32) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        // A window as large as the file (10..=24 bits): more finds nothing more, and at
        // quality 11 the encoder's memory grows with it.
        lgwin: (usize::BITS - raw.len().max(1).leading_zeros()).clamp(10, 24) as i32,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(raw.len() / 3);
    // Reading from a slice and writing to a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut &raw[..], &mut out, &params);
    out
}

fn gzip_compress(raw: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 2), flate2::Compression::new(level));
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(raw);
    encoder.finish().unwrap_or_default()
}

/// The first 16 hex digits of SHA-256 over `parts`: enough to tell builds apart.
fn short_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Every regular file under `dir`, as `(URL path, file path)`. Hidden files are skipped.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            // No site yet (`cargo test` before any `cargo leptos build`): nothing to serve.
            tracing::debug!(dir = %dir.display(), error = %e, "no static files here");
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(root, &path, out),
            Ok(t) if t.is_file() => {
                if let Ok(relative) = path.strip_prefix(root) {
                    let url: Vec<_> = relative.components().filter_map(|c| c.as_os_str().to_str()).collect();
                    out.push((format!("/{}", url.join("/")), path.clone()));
                }
            }
            _ => {}
        }
    }
}

fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Images and fonts are compressed already.
fn is_compressible(content_type: &str) -> bool {
    !(content_type.starts_with("image/") && content_type != "image/svg+xml" && content_type != "image/x-icon"
        || content_type.starts_with("font/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Encoding {
        Encoding::preferred(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn accept_encoding_picks_brotli_then_gzip_and_honours_q_zero() {
        assert_eq!(accept("gzip, deflate, br"), Encoding::Brotli);
        assert_eq!(accept("gzip, deflate"), Encoding::Gzip);
        assert_eq!(accept("br;q=0, gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0, gzip;q=0"), Encoding::Identity);
        assert_eq!(accept("*"), Encoding::Brotli);
        assert_eq!(accept("*;q=0"), Encoding::Identity);
        assert_eq!(accept("gzip, *;q=0"), Encoding::Gzip);
        assert_eq!(accept("identity"), Encoding::Identity);
        assert_eq!(accept(""), Encoding::Identity);
        assert_eq!(Encoding::preferred(None), Encoding::Identity);
    }

    #[test]
    fn both_encodings_round_trip_and_are_smaller() {
        use std::io::Read;
        let text = "let verified = true; // the same line again and again\n".repeat(200);
        let file = File::new(text.clone().into_bytes(), "text/javascript; charset=utf-8");
        let br = file.compressed(Encoding::Brotli).unwrap();
        let gz = file.compressed(Encoding::Gzip).unwrap();
        assert!(br.len() < text.len() / 10 && gz.len() < text.len() / 10);
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut unbrotli).unwrap();
        assert_eq!(unbrotli, text.as_bytes());
        let mut ungzip = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut ungzip)
            .unwrap();
        assert_eq!(ungzip, text);
        // Computed once: the same bytes come back.
        assert_eq!(file.cached(Encoding::Brotli).unwrap().unwrap().as_ptr(), br.as_ptr());
    }

    #[test]
    fn small_files_and_images_stay_as_they_are() {
        let small = File::new(b"tiny".to_vec(), "text/css; charset=utf-8");
        assert_eq!(small.compressed(Encoding::Brotli), None);
        let png = File::new(vec![7; 4096], "image/png");
        assert_eq!(png.compressed(Encoding::Gzip), None);
        // Random bytes do not shrink: served as they are, whatever was asked.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let noise = File::new(noise, "application/wasm");
        assert_eq!(noise.compressed(Encoding::Brotli), None);
    }
}
