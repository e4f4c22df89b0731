//! The organization trail's log files in S3 (`[audit] cloudtrail_bucket`): the standard layout
//! `AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`, every region, each file
//! a gzip JSON `{"Records": [...]}`. Files are listed day by day within the audit's period,
//! downloaded a bounded number at a time and decompressed one by one, so memory stays bounded
//! by the concurrency, not by the size of the trail.

use super::{Aws, classify};
use crate::core::audit::RootEvent;
use chrono::{DateTime, Duration, Utc};
use std::io::Read;

const WHO: &str = "the auditing principal";
/// Files downloaded at once.
const CONCURRENCY: usize = 16;
/// The largest log file read (compressed and decompressed); CloudTrail writes files of a few MB.
pub(crate) const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// The most log files one audit lists (about 90 days of every region of an account, many times
/// over): more is refused, naming the limit.
pub(crate) const MAX_FILES: usize = 2_000_000;

pub use crate::core::audit::TrailRead as Stats;

/// Root's events in the trail between `since` and `until`, with what was read.
pub fn root_events(
    aws: &Aws,
    bucket: &str,
    account: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(Vec<RootEvent>, Stats), String> {
    let started = std::time::Instant::now();
    let s3 = super::archive::client(aws);
    aws.rt.block_on(async {
        // Where this account's logs are: directly under AWSLogs/, or under an organization id.
        let mut bases = vec![];
        for p in prefixes(&s3, bucket, "AWSLogs/").await? {
            if p == format!("AWSLogs/{account}/") {
                bases.push(p);
            } else if p.starts_with("AWSLogs/o-") {
                bases.push(format!("{p}{account}/"));
            }
        }
        if bases.is_empty() {
            return Err(format!(
                "s3://{bucket} has no AWSLogs/{account}/ or AWSLogs/o-.../{account}/ folder: check [audit] cloudtrail_bucket (the trail's bucket, with the standard layout and no key prefix)"
            ));
        }
        let mut regions = vec![];
        for base in &bases {
            regions.extend(prefixes(&s3, bucket, &format!("{base}CloudTrail/")).await?);
        }
        // The trail logs every account of the organization: one it holds nothing of is not
        // "no root use" (rule E29).
        if regions.is_empty() {
            return Err(format!(
                "s3://{bucket} holds no CloudTrail log folder of account {account}: check that the organization trail logs this account"
            ));
        }
        let mut keys = vec![];
        for region in regions {
            let mut day = since.date_naive();
            while day <= until.date_naive() {
                keys.extend(list(&s3, bucket, &format!("{region}{}/", day.format("%Y/%m/%d"))).await?);
                if keys.len() > MAX_FILES {
                    return Err(format!("more than {MAX_FILES} log files in the period, the limit of one audit: narrow --since"));
                }
                day += Duration::days(1);
            }
        }
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut set = tokio::task::JoinSet::new();
        for key in keys {
            let (s3, bucket, permits, account) = (s3.clone(), bucket.to_string(), permits.clone(), account.to_string());
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                // A call that fails stops the source (a retry may work); a file that is not a
                // log file is named and skipped: nobody may be able to delete it.
                let o = s3.get_object().bucket(&bucket).key(&key).send().await.map_err(|e| classify("s3:GetObject", &e, WHO).to_string())?;
                let size = o.content_length().unwrap_or(0).max(0) as u64;
                if size > MAX_FILE_BYTES {
                    return Ok(Err(format!("{key}: {size} bytes, over the {} MiB limit of a log file", MAX_FILE_BYTES >> 20)));
                }
                let body = o.body.collect().await.map_err(|e| format!("{key}: {e}"))?.into_bytes();
                let compressed = body.len() as u64;
                Ok::<_, String>(read_log_file(&key, &body, &account, since, until).map(|(events, bytes, records)| (events, compressed, bytes, records)))
            });
        }
        let (mut out, mut stats) = (vec![], Stats::default());
        while let Some(done) = set.join_next().await {
            match done.map_err(|e| e.to_string())?? {
                Ok((events, compressed, bytes, records)) => {
                    out.extend(events);
                    stats.files += 1;
                    stats.compressed_bytes += compressed;
                    stats.bytes += bytes;
                    stats.records += records;
                }
                Err(unreadable) => stats.unreadable.push(unreadable),
            }
        }
        stats.unreadable.sort();
        out.sort_by(|a, b| a.time.cmp(&b.time));
        stats.seconds = started.elapsed().as_secs_f64();
        Ok((out, stats))
    })
}

/// One log file: gunzipped (bounded), its records read, root's events within the period kept.
/// Returns the events, the decompressed size and the number of records.
pub(crate) fn read_log_file(
    key: &str,
    gz: &[u8],
    account: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(Vec<RootEvent>, u64, usize), String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(rename = "Records", default)]
        records: Vec<serde_json::Value>,
    }
    let mut json = vec![];
    flate2::read::GzDecoder::new(gz)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("{key}: not a gzip CloudTrail log file ({e})"))?;
    if json.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{key}: larger than {MAX_FILE_BYTES} bytes decompressed: not a CloudTrail log file"));
    }
    let file: File = serde_json::from_slice(&json).map_err(|e| format!("{key}: not CloudTrail JSON ({e})"))?;
    let in_period =
        |e: &RootEvent| DateTime::parse_from_rfc3339(&e.time).map(|t| t.with_timezone(&Utc)).is_ok_and(|t| t >= since && t <= until);
    let events = file.records.iter().filter_map(|r| super::posture::root_event_of(r, account)).filter(in_period).collect();
    Ok((events, json.len() as u64, file.records.len()))
}

/// The "directories" directly under `prefix`.
async fn prefixes(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    listing(s3, bucket, prefix, true).await
}

/// Every log file (`*.json.gz`) under `prefix`.
async fn list(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    Ok(listing(s3, bucket, prefix, false).await?.into_iter().filter(|k| k.ends_with(".json.gz")).collect())
}

/// One ListObjectsV2 walk, page by page: the common prefixes one level down (`folders`), or
/// every key.
async fn listing(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, folders: bool) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(folders.then(|| "/".to_string()))
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| classify("s3:ListBucket", &e, WHO).to_string())?;
        if folders {
            out.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)));
        } else {
            out.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap_or_default();
        e.finish().unwrap_or_default()
    }

    #[test]
    fn a_log_file_is_gzip_json_records_and_anything_else_says_which_file() {
        let (since, until) = (Utc::now() - Duration::days(1), Utc::now());
        let t = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let rec = format!(
            r#"{{"Records":[{{"eventTime":"{t}","eventName":"ConsoleLogin","userIdentity":{{"type":"Root"}}}},{{"eventTime":"{t}","userIdentity":{{"type":"IAMUser"}}}}]}}"#
        );
        let (events, bytes, records) = read_log_file("k", &gz(rec.as_bytes()), "123456789012", since, until).unwrap_or_default();
        assert_eq!((events.len(), records, bytes as usize), (1, 2, rec.len()));
        assert!(read_log_file("k1", b"not gzip", "1", since, until).is_err_and(|e| e.starts_with("k1: not a gzip")));
        assert!(read_log_file("k2", &gz(b"[1,2"), "1", since, until).is_err_and(|e| e.starts_with("k2: not CloudTrail JSON")));
    }
}
