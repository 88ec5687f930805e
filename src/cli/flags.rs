//! Go `flag`-style parsing, as Consul's CLI accepts it: `-name=value`, `-name value`,
//! `--name`, boolean `-name` / `-name=false`; flags stop at the first positional argument.

use std::collections::BTreeMap;

/// Declared flags: name → takes a value.
pub struct FlagSpec<'a> {
    pub bools: &'a [&'a str],
    pub values: &'a [&'a str],
}

/// Parsed flags and positional arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    pub values: BTreeMap<String, Vec<String>>,
    pub positional: Vec<String>,
}

impl Parsed {
    /// Last value of a value flag.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// True when a boolean flag was given and not set to false.
    pub fn flag(&self, name: &str) -> bool {
        self.value(name)
            .map(|v| v != "false" && v != "0")
            .unwrap_or(false)
    }
}

/// Parses `args` against `spec`; the error text is what the CLI prints.
pub fn parse(args: &[String], spec: &FlagSpec) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            parsed.positional.extend(args[i + 1..].iter().cloned());
            break;
        }
        let Some(body) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|b| !b.is_empty())
        else {
            parsed.positional.extend(args[i..].iter().cloned());
            break;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let value = if spec.bools.contains(&name) {
            inline.unwrap_or_else(|| "true".into())
        } else if spec.values.contains(&name) {
            match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("flag needs an argument: -{name}"))?
                }
            }
        } else {
            return Err(format!("flag provided but not defined: -{name}"));
        };
        parsed
            .values
            .entry(name.to_string())
            .or_default()
            .push(value);
        i += 1;
    }
    Ok(parsed)
}

/// A flag's usage text as Consul's help prints it: wrapped at `72 - indent` columns with
/// kr/text's minimal-raggedness algorithm (not greedily), each line indented.
pub fn wrap(text: &str, indent: usize) -> String {
    const LINE_MAX: usize = 72;
    const OVERLONG_PENALTY: i64 = 100_000;
    let limit = (LINE_MAX - indent) as i64;
    let joined = text.trim().replace('\n', " ");
    let words: Vec<&str> = joined.split(' ').collect();
    let n = words.len();
    // width(i, j): words i..=j on one line.
    let width = |i: usize, j: usize| -> i64 {
        words[i..=j].iter().map(|w| w.len() as i64).sum::<i64>() + (j - i) as i64
    };
    let mut cost = vec![i64::MAX; n];
    let mut next_break = vec![n; n];
    for i in (0..n).rev() {
        if width(i, n - 1) <= limit || i == n - 1 {
            cost[i] = 0;
            next_break[i] = n;
            continue;
        }
        for j in i + 1..n {
            let slack = limit - width(i, j - 1);
            let mut c = slack * slack + cost[j];
            if width(i, j - 1) > limit {
                c += OVERLONG_PENALTY;
            }
            if c < cost[i] {
                cost[i] = c;
                next_break[i] = j;
            }
        }
    }
    let pad = " ".repeat(indent);
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        lines.push(format!("{pad}{}", words[i..next_break[i]].join(" ")));
        i = next_break[i];
    }
    lines.join("\n")
}

/// `parse` for a command of the CLI: `-h` prints the command's usage (built from `spec`) and
/// exits 0; an unknown flag prints the error and the usage (then `Err("")`: said already).
pub fn parse_command(args: &[String], spec: &FlagSpec) -> Result<Parsed, String> {
    if wants_help(args) {
        println!("{}", super::help::usage(spec));
        std::process::exit(0);
    }
    parse(args, spec).map_err(|e| {
        eprintln!("{e}\n{}", super::help::usage(spec));
        String::new()
    })
}

/// True when the arguments ask for help (`-h`, `-help`, `--help` before `--`), which Consul's
/// CLI answers with the command's usage on stdout and exit 0, whatever else was given.
pub fn wants_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| matches!(a.as_str(), "-h" | "-help" | "--help" | "--h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn go_style_forms() {
        let spec = FlagSpec {
            bools: &["dev", "recurse"],
            values: &["node", "http-port"],
        };
        let p = parse(
            &args(&[
                "-dev",
                "--node=a",
                "-http-port",
                "9",
                "-recurse=false",
                "key",
                "-x",
            ]),
            &spec,
        )
        .unwrap();
        assert!(p.flag("dev"));
        assert!(!p.flag("recurse"));
        assert_eq!(p.value("node"), Some("a"));
        assert_eq!(p.value("http-port"), Some("9"));
        assert_eq!(p.positional, vec!["key", "-x"]);
        assert_eq!(
            parse(&args(&["-nope"]), &spec).unwrap_err(),
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            parse(&args(&["-node"]), &spec).unwrap_err(),
            "flag needs an argument: -node"
        );
    }

    #[test]
    fn usage_text_wraps_like_consul() {
        // As `consul agent -h` prints -allow-write-http-from.
        assert_eq!(
            wrap("Only allow write endpoint calls from given network. CIDR format, can be specified multiple times.", 5),
            "     Only allow write endpoint calls from given network. CIDR format,\n     can be specified multiple times."
        );
        assert_eq!(
            wrap("Log level of the agent.", 5),
            "     Log level of the agent."
        );
        assert!(wants_help(&args(&["-dev", "--help"])));
        assert!(!wants_help(&args(&["--", "-h"])));
    }
}
