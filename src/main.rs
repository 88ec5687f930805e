//! The `tribune` binary: hand argv to the CLI.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs_children = matches!(
        args.first().map(String::as_str),
        Some("agent" | "watch" | "lock")
    );
    if !runs_children {
        // A CLI command piped into `head` ends quietly when the pipe closes, as Consul's does;
        // the agent (a closed stdout must not kill a server) and the commands that write to
        // their children's stdin (a child that does not read it must not kill them) keep
        // Rust's default, where a closed pipe is an error.
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    std::process::exit(tribune::cli::run(args));
}
