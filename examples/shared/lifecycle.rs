//! What every example server shares: it lives only as long as its parent holds its stdin.

/// Exits the process once stdin reaches EOF (the parent closed it or died).
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while !matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(0) | Err(_)) {}
        std::process::exit(0);
    });
}
