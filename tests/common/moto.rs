//! A local moto server (PyPI `moto[server]`, pinned by ./scripts/test in target/moto-venv),
//! started per test on 127.0.0.1 with a free port, stopped on drop. Never real AWS.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Moto {
    child: Child,
    pub url: String,
    pub port: u16,
}

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("BREAKGLASS_MOTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join("target/moto-venv/bin/python"));
    assert!(
        py.is_file(),
        "moto is missing: {} does not exist. Run ./scripts/test (it creates target/moto-venv with moto[server]==5.2.5), \
         or point BREAKGLASS_MOTO_PYTHON at a python that has moto[server] installed.",
        py.display()
    );
    py
}

impl Moto {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts moto on `port` (0: any free port) and waits until it listens.
    pub fn start_on(port: u16) -> Self {
        let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/moto/launcher.py");
        let mut child = Command::new(python())
            .arg(launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto starts");
        let stderr = child.stderr.take().expect("moto's stderr");
        let (tx, rx) = mpsc::channel();
        // Keep draining moto's log (it logs every request; a full pipe would block it).
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(p) = line.split("Running on http://127.0.0.1:").nth(1) {
                    let p: String = p.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(p.parse::<u16>().unwrap_or(0));
                    sent = true;
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(30)).expect("moto did not report its port within 30 s");
        // A test that ran earlier on the same port left its emulated CloudTrail, organization
        // features or faults behind: this server starts with none.
        for what in ["cloudtrail", "orgfeatures", "orgfaults"] {
            let _ = std::fs::remove_file(format!("/tmp/breakglass-moto-{port}-{what}.json"));
        }
        Moto { child, url: format!("http://127.0.0.1:{port}"), port }
    }

    /// Environment for a child process that must reach this server with test credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
    }

    /// An SDK configuration for this server: fixed region, static test credentials, no retries.
    pub fn sdk(&self) -> aws_config::SdkConfig {
        sdk_for(&self.url)
    }

    /// Deploys a CloudFormation template into this server (boto3 from moto's own environment;
    /// the crate has no CloudFormation client) and returns the stack's status.
    pub fn deploy(&self, template: &std::path::Path, stack: &str, params: &[(&str, &str)]) -> String {
        let params: Vec<serde_json::Value> =
            params.iter().map(|(k, v)| serde_json::json!({"ParameterKey": k, "ParameterValue": v})).collect();
        let script = r#"
import boto3, json, sys
url, template, stack, params = sys.argv[1:5]
cf = boto3.client("cloudformation", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
cf.create_stack(StackName=stack, TemplateBody=open(template).read(), Parameters=json.loads(params))
print(cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
"#;
        let o = Command::new(python())
            .args(["-c", script, &self.url, template.to_str().unwrap(), stack, &serde_json::to_string(&params).unwrap()])
            .output()
            .expect("python runs");
        assert!(o.status.success(), "deploying {}: {}", template.display(), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Stops the server (to simulate an outage).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sdk_for(url: &str) -> aws_config::SdkConfig {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "tests"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load(),
    )
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A topic with an SQS queue subscribed to it; returns (topic ARN, queue URL).
pub fn topic_with_queue(sdk: &aws_config::SdkConfig, name: &str) -> (String, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic = sns.create_topic().name(name).send().await.unwrap().topic_arn.unwrap();
        let q = sqs.create_queue().queue_name(format!("{name}-watch")).send().await.unwrap().queue_url.unwrap();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&q)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let qarn = attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(qarn).send().await.unwrap();
        (topic, q)
    })
}

/// Every SNS envelope waiting in the queue, in arrival order (as JSON).
pub fn drain(sdk: &aws_config::SdkConfig, queue: &str) -> Vec<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let mut out = vec![];
        for _ in 0..5 {
            let r = sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.unwrap();
            let msgs = r.messages();
            if msgs.is_empty() && !out.is_empty() {
                break;
            }
            for m in msgs {
                out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            }
        }
        out
    })
}
