//! Throwaway real mail servers for tests: Dovecot (IMAP, and LMTP delivery into maildirs) and
//! Postfix (SMTP on 127.0.0.1, delivering every domain into Dovecot over LMTP, SMTP AUTH
//! through Dovecot's auth service). Each instance lives in its own temporary directory with its
//! own configuration, a passwd-file user and free high ports, and is stopped when dropped.
//!
//! Installed by `scripts/setup/mailservers.sh`. Without the binaries, or without root (Postfix
//! and Dovecot's mail processes need it), [`MailServers::start`] prints a notice and answers
//! `None`, and the test returns early.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DOVECOT: &str = "/usr/sbin/dovecot";
const POSTFIX: &str = "/usr/sbin/postfix";

/// The mailbox user every test logs in as.
pub const USER: &str = "seller@salesagent.example";
/// Its password.
pub const PASSWORD: &str = "s3cret-Passw0rd";

/// A running Dovecot + Postfix pair.
pub struct MailServers {
    dir: PathBuf,
    /// IMAP port (plain; 127.0.0.1).
    pub imap_port: u16,
    /// SMTP port (plain, AUTH offered; 127.0.0.1).
    pub smtp_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{what} did not listen on {port}:\n{log}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl MailServers {
    /// Starts both servers, or prints why not and answers `None`.
    pub fn start() -> Option<Self> {
        if !Path::new(DOVECOT).exists() || !Path::new(POSTFIX).exists() {
            eprintln!(
                "SKIPPED: dovecot/postfix are not installed (run scripts/setup/mailservers.sh as root)"
            );
            return None;
        }
        if !is_root() {
            eprintln!(
                "SKIPPED: the throwaway Dovecot/Postfix need root (mail users and Postfix's queue)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("salesagent-mail-{}", uuid_like()));
        let (dc, pf, mail) = (dir.join("dovecot"), dir.join("postfix"), dir.join("mail"));
        for d in [&dc, &pf, &mail, &pf.join("queue"), &pf.join("data")] {
            std::fs::create_dir_all(d).expect("temp dir");
        }
        let chmod = |p: &Path, mode: &str| {
            let _ = Command::new("chmod").arg(mode).arg(p).status();
        };
        chmod(&dir, "755");
        chmod(&dc, "755");
        let _ = Command::new("chown").arg("mail:mail").arg(&mail).status();
        let _ = Command::new("chown")
            .arg("postfix")
            .arg(pf.join("data"))
            .status();

        let (imap_port, smtp_port) = (free_port(), free_port());
        let d = dir.display();
        write(
            &dc.join("dovecot.conf"),
            &format!(
                r#"base_dir = {d}/dovecot/run
state_dir = {d}/dovecot/state
instance_name = salesagent-{imap_port}
protocols = imap lmtp
listen = 127.0.0.1
log_path = {d}/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Refused logins are part of the tests: answer them at once, without the growing penalty.
auth_failure_delay = 0
first_valid_uid = 8
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/dovecot/passwd
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={d}/mail/%u allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener {d}/dovecot/lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener {d}/dovecot/auth-smtp {{
    mode = 0666
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "Sent Items" {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox "Brouillons" {{
    special_use = \Drafts
    auto = subscribe
  }}
}}
"#
            ),
        );
        write(&dc.join("passwd"), &format!("{USER}:{{PLAIN}}{PASSWORD}\n"));
        write(
            &pf.join("main.cf"),
            &format!(
                r"compatibility_level = 3.6
queue_directory = {d}/postfix/queue
data_directory = {d}/postfix/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.salesagent.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject
smtpd_sasl_type = dovecot
smtpd_sasl_path = {d}/dovecot/auth-smtp
smtpd_sasl_auth_enable = yes
virtual_mailbox_domains = static:all
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:unix:{d}/dovecot/lmtp
maillog_file_prefixes = {d}
maillog_file = {d}/postfix/maillog
smtputf8_enable = no
biff = no
"
            ),
        );
        write(
            &pf.join("master.cf"),
            &format!(
                "127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"
            ),
        );
        let servers = Self {
            dir: dir.clone(),
            imap_port,
            smtp_port,
        };
        let ok = Command::new(DOVECOT)
            .arg("-c")
            .arg(dc.join("dovecot.conf"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "dovecot failed to start: {}", servers.logs());
        let ok = Command::new(POSTFIX)
            .arg("-c")
            .arg(&pf)
            .arg("start")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "postfix failed to start: {}", servers.logs());
        wait_for_port(imap_port, "dovecot", &dc.join("dovecot.log"));
        wait_for_port(smtp_port, "postfix", &pf.join("maillog"));
        Some(servers)
    }

    /// `IMAP_URL` for the test user (no TLS: 127.0.0.1 only).
    pub fn imap_url(&self) -> String {
        format!(
            "imap://{}:{PASSWORD}@127.0.0.1:{}?tls=none",
            USER.replace('@', "%40"),
            self.imap_port
        )
    }

    /// `SMTP_URL` (logs in like IMAP).
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.smtp_port)
    }

    /// Both servers' logs (for failure messages).
    pub fn logs(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- dovecot\n{}\n--- postfix\n{}",
            read(self.dir.join("dovecot/dovecot.log")),
            read(self.dir.join("postfix/maillog"))
        )
    }

    /// Mailboxes (delivered-to addresses) whose name starts with `prefix`, with how many
    /// messages each holds in its inbox.
    pub fn maildirs_matching(&self, prefix: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.dir.join("mail")) else {
            return out;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(prefix) {
                continue;
            }
            let count = ["new", "cur"]
                .iter()
                .filter_map(|d| std::fs::read_dir(e.path().join(d)).ok())
                .map(Iterator::count)
                .sum();
            out.push((name, count));
        }
        out.sort();
        out
    }

    /// How many messages `folder` (not the inbox) of `user` holds (Dovecot's Maildir++ layout).
    pub fn folder_count(&self, user: &str, folder: &str) -> usize {
        let base = self.dir.join("mail").join(user).join(format!(".{folder}"));
        ["new", "cur"]
            .iter()
            .filter_map(|d| std::fs::read_dir(base.join(d)).ok())
            .map(Iterator::count)
            .sum()
    }

    /// Gives `folder` of the test user a new `UIDVALIDITY` (as a server restore would).
    pub fn set_uid_validity(&self, folder: &str, validity: u32) {
        let out = Command::new("/usr/bin/doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot/dovecot.conf"))
            .args(["mailbox", "update", "-u", USER, "--uid-validity"])
            .arg(validity.to_string())
            .arg(folder)
            .output()
            .expect("doveadm");
        assert!(
            out.status.success(),
            "doveadm mailbox update: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Delivers a raw RFC 5322 message to `rcpt` through the real SMTP server (no login, as
    /// mail from another domain arrives), like a lead's reply or a bounce (`from` empty: `<>`).
    pub fn inject(&self, from: &str, rcpt: &str, raw: &[u8]) {
        let stream = TcpStream::connect(("127.0.0.1", self.smtp_port)).expect("smtp connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut w = stream;
        let mut expect = |code: &str| {
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("smtp reply");
                assert!(
                    line.starts_with(code),
                    "smtp: expected {code}, got {line:?}"
                );
                if line.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
        };
        expect("220");
        let mut cmd = |c: String, code: &str| {
            w.write_all(c.as_bytes()).expect("smtp write");
            expect(code);
        };
        cmd("EHLO inject.test\r\n".into(), "250");
        cmd(format!("MAIL FROM:<{from}>\r\n"), "250");
        cmd(format!("RCPT TO:<{rcpt}>\r\n"), "250");
        cmd("DATA\r\n".into(), "354");
        let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let mut body = String::new();
        for line in text.split('\n') {
            if line.starts_with('.') {
                body.push('.');
            }
            body.push_str(line);
            body.push_str("\r\n");
        }
        body.push_str(".\r\n");
        cmd(body, "250");
        cmd("QUIT\r\n".into(), "221");
    }
}

impl Drop for MailServers {
    /// Stops both servers by their master process ids (SIGTERM; they stop their own children)
    /// and removes the directory.
    fn drop(&mut self) {
        for pid_file in ["dovecot/run/master.pid", "postfix/queue/pid/master.pid"] {
            let pid = std::fs::read_to_string(self.dir.join(pid_file)).unwrap_or_default();
            let pid = pid.trim();
            if !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()) {
                let _ = Command::new("kill").args(["-TERM", pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uuid_like() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}-{}", std::process::id(), free_port())
}
