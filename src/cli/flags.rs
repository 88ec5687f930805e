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
}
