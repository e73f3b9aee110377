fn main() -> std::process::ExitCode {
    auth0_sync::main_entry()
}
