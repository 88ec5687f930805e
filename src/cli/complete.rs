//! Shell completion, as Consul's (posener/complete): `-autocomplete-install` adds
//! `complete -C <this binary> tribune` to the shell's rc files (`-autocomplete-uninstall`
//! takes it out), and the shell then runs us with `COMP_LINE` set to ask for candidates.

use std::path::PathBuf;

/// Candidates for the line being typed (`COMP_LINE`): the next word of a command path.
pub fn candidates(line: &str) -> Vec<String> {
    let mut words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let partial = if line.ends_with(' ') {
        ""
    } else {
        words.pop().unwrap_or("")
    };
    let typed = words.join(" ");
    let mut out: Vec<String> = super::help::command_names()
        .filter_map(|path| {
            let rest = if typed.is_empty() {
                path
            } else {
                path.strip_prefix(&typed)?.strip_prefix(' ')?
            };
            let next = rest.split(' ').next()?;
            next.starts_with(partial).then(|| next.to_string())
        })
        .collect();
    if typed.is_empty() && "agent".starts_with(partial) {
        out.push("agent".into());
    }
    out.sort();
    out.dedup();
    out
}

fn rc_files() -> Vec<(PathBuf, String)> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Vec::new();
    };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tribune".into());
    let mut out = vec![(home.join(".bashrc"), format!("complete -C {exe} tribune"))];
    let zsh = home.join(".zshrc");
    if zsh.exists() {
        out.push((
            zsh,
            format!(
                "autoload -U +X bashcompinit && bashcompinit\ncomplete -o nospace -C {exe} tribune"
            ),
        ));
    }
    out
}

/// `-autocomplete-install` / `-autocomplete-uninstall`.
pub fn install(uninstall: bool) -> i32 {
    for (file, lines) in rc_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let present = text.contains(&lines);
        let updated = match (uninstall, present) {
            (false, true) => {
                eprintln!(
                    "Error executing CLI: already installed in {}",
                    file.display()
                );
                return 1;
            }
            (false, false) => format!("{text}\n{lines}\n"),
            (true, false) => continue,
            (true, true) => text
                .replace(&format!("\n{lines}\n"), "\n")
                .replace(&lines, ""),
        };
        if let Err(e) = std::fs::write(&file, updated) {
            eprintln!("Error executing CLI: {}: {e}", file.display());
            return 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_command_paths() {
        assert!(candidates("tribune k").contains(&"kv".to_string()));
        assert!(candidates("tribune k").contains(&"keygen".to_string()));
        assert_eq!(candidates("tribune kv p"), vec!["put".to_string()]);
        assert!(candidates("tribune acl token ").contains(&"create".to_string()));
        assert!(candidates("tribune ag").contains(&"agent".to_string()));
    }
}
