fn main() -> std::process::ExitCode {
    digis_relay::cli::main()
}
