//! The `vouch` command-line tool.

fn main() -> anyhow::Result<()> {
    vouch::cli::main()
}
