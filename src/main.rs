//! The `tribune` binary: hand argv to the CLI.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("agent") {
        // A CLI command piped into `head` ends quietly when the pipe closes, as Consul's does;
        // the agent keeps Rust's default (a closed stdout must not kill a server).
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    std::process::exit(tribune::cli::run(args));
}
