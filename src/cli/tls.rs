//! `tribune tls ca create` and `tribune tls cert create -server|-client|-cli`: Consul's file
//! names, SANs and messages; ECDSA P-256 keys, as Consul makes them (rcgen does the X.509).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

use super::flags::{parse_command as parse, FlagSpec};

pub fn run(args: &[String]) -> i32 {
    let result = match (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
    ) {
        (Some("ca"), Some("create")) => ca_create(&args[2..]),
        (Some("cert"), Some("create")) => cert_create(&args[2..]),
        _ => Err("Usage: tribune tls <ca|cert> create [options]".into()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("==> {e}");
            1
        }
    }
}

fn validity(days: &str) -> Result<(time::OffsetDateTime, time::OffsetDateTime), String> {
    let days: i64 = days
        .parse()
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| format!("invalid -days {days}"))?;
    let now = time::OffsetDateTime::now_utc();
    Ok((
        now - time::Duration::minutes(1),
        now + time::Duration::days(days),
    ))
}

/// Writes a new file (never overwrites, as Consul refuses to).
fn save(path: &Path, contents: &str, private: bool) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("Failed to write {}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| format!("Failed to write {}: {e}", path.display()))?;
    println!("==> Saved {}", path.display());
    Ok(())
}

fn ca_create(args: &[String]) -> Result<(), String> {
    let p = parse(
        args,
        &FlagSpec {
            bools: &["name-constraint"],
            values: &[
                "days",
                "domain",
                "common-name",
                "additional-name-constraint",
            ],
        },
    )?;
    let domain = p.value("domain").unwrap_or("consul");
    let (cert_path, key_path) = (
        PathBuf::from(format!("{domain}-agent-ca.pem")),
        PathBuf::from(format!("{domain}-agent-ca-key.pem")),
    );
    if cert_path.exists() || key_path.exists() {
        return Err(format!(
            "{} or {} already exists",
            cert_path.display(),
            key_path.display()
        ));
    }
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = CertificateParams::default();
    let serial: u64 = rand::random();
    let name = p
        .value("common-name")
        .map(str::to_string)
        .unwrap_or_else(|| format!("Consul Agent CA {serial}"));
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    (params.not_before, params.not_after) = validity(p.value("days").unwrap_or("1825"))?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    save(&cert_path, &cert.pem(), false)?;
    save(&key_path, &key.serialize_pem(), true)
}

fn cert_create(args: &[String]) -> Result<(), String> {
    let p = parse(
        args,
        &FlagSpec {
            bools: &["server", "client", "cli"],
            values: &[
                "dc",
                "domain",
                "days",
                "ca",
                "key",
                "node",
                "additional-dnsname",
                "additional-ipaddress",
            ],
        },
    )?;
    let kinds = [p.flag("server"), p.flag("client"), p.flag("cli")];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err("Please provide either -server, -client, or -cli".into());
    }
    let (dc, domain) = (
        p.value("dc").unwrap_or("dc1"),
        p.value("domain").unwrap_or("consul"),
    );
    let kind = ["server", "client", "cli"][kinds.iter().position(|k| *k).unwrap()];
    let ca_path = PathBuf::from(p.value("ca").unwrap_or(&format!("{domain}-agent-ca.pem")));
    let ca_key_path = PathBuf::from(
        p.value("key")
            .unwrap_or(&format!("{domain}-agent-ca-key.pem")),
    );
    let ca_pem = std::fs::read_to_string(&ca_path)
        .map_err(|e| format!("Error reading CA: {}: {e}", ca_path.display()))?;
    let ca_key_pem = std::fs::read_to_string(&ca_key_path)
        .map_err(|e| format!("Error reading CA key: {}: {e}", ca_key_path.display()))?;
    let ca_key =
        KeyPair::from_pem(&ca_key_pem).map_err(|e| format!("Error reading CA key: {e}"))?;
    // Rebuilt from the PEM: same subject and key, which is all that signing needs.
    let ca = CertificateParams::from_ca_cert_pem(&ca_pem)
        .and_then(|params| params.self_signed(&ca_key))
        .map_err(|e| format!("Error reading CA: {e}"))?;

    let mut dns = match kind {
        "server" => vec![format!("server.{dc}.{domain}"), "localhost".to_string()],
        "client" => vec![format!("client.{dc}.{domain}"), "localhost".to_string()],
        _ => vec![format!("cli.{dc}.{domain}"), "localhost".to_string()],
    };
    if let (Some(node), "server") = (p.value("node"), kind) {
        dns.push(format!("{node}.server.{dc}.{domain}"));
    }
    dns.extend(
        p.values
            .get("additional-dnsname")
            .into_iter()
            .flatten()
            .cloned(),
    );
    let mut params = CertificateParams::new(dns.clone()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, dns[0].clone());
    let mut ips = vec!["127.0.0.1".to_string()];
    ips.extend(
        p.values
            .get("additional-ipaddress")
            .into_iter()
            .flatten()
            .cloned(),
    );
    for ip in ips {
        let ip = ip.parse().map_err(|_| format!("invalid IP address {ip}"))?;
        params.subject_alt_names.push(SanType::IpAddress(ip));
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = match kind {
        "cli" => vec![ExtendedKeyUsagePurpose::ClientAuth],
        _ => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    (params.not_before, params.not_after) = validity(p.value("days").unwrap_or("365"))?;

    // The first free index, as Consul numbers them.
    let prefix = format!("{dc}-{kind}-{domain}");
    let n = (0..)
        .find(|n| !Path::new(&format!("{prefix}-{n}.pem")).exists())
        .unwrap();
    if kind == "server" {
        println!(
            "==> WARNING: Server Certificates grants authority to become a\n    server and access all state in the cluster including root keys\n    and all ACL tokens. Do not distribute them to production hosts\n    that are not server nodes. Store them as securely as CA keys."
        );
    }
    println!(
        "==> Using {} and {}",
        ca_path.display(),
        ca_key_path.display()
    );
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params
        .signed_by(&key, &ca, &ca_key)
        .map_err(|e| e.to_string())?;
    save(Path::new(&format!("{prefix}-{n}.pem")), &cert.pem(), false)?;
    save(
        Path::new(&format!("{prefix}-{n}-key.pem")),
        &key.serialize_pem(),
        true,
    )
}
