//! Getting a new password from the operator: `--password`, else a hidden prompt (typed twice)
//! on a terminal, else one line from stdin (for scripts: `echo "$PW" | authmcp-gateway …`).

use std::io::{BufRead, IsTerminal as _};

use actors::auth::passwords::PasswordPolicy;

/// Reads the password from where the operator put it and enforces the policy.
pub(crate) fn new_password(given: Option<&str>, policy: &PasswordPolicy) -> anyhow::Result<String> {
    let password = match given {
        Some(p) => p.to_string(),
        None if std::io::stdin().is_terminal() => prompt_twice()?,
        None => read_line(&mut std::io::stdin().lock())?,
    };
    check_policy(&password, policy)?;
    Ok(password)
}

fn prompt_twice() -> anyhow::Result<String> {
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat password: ")?;
    if first != second {
        anyhow::bail!("the two passwords do not match; nothing was changed");
    }
    Ok(first)
}

/// One line, without its line ending; anything after it is ignored.
pub(crate) fn read_line(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        anyhow::bail!(
            "no password given: pass --password, run the command in a terminal to be prompted, \
             or write the password as one line on stdin"
        );
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
}

/// Names every unmet rule in one line, so the operator fixes them all in one go.
pub(crate) fn check_policy(password: &str, policy: &PasswordPolicy) -> anyhow::Result<()> {
    policy
        .check(password)
        .map_err(|unmet| anyhow::anyhow!("password rejected: it {}", unmet.join("; it ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_line_without_its_ending() {
        let mut input = "S3cret-pass\r\nignored\n".as_bytes();
        assert_eq!(read_line(&mut input).unwrap(), "S3cret-pass");
        let mut input = "no-newline".as_bytes();
        assert_eq!(read_line(&mut input).unwrap(), "no-newline");
    }

    #[test]
    fn empty_stdin_explains_the_three_ways() {
        let err = read_line(&mut "".as_bytes()).unwrap_err().to_string();
        assert!(err.contains("--password"), "{err}");
        assert!(err.contains("stdin"), "{err}");
    }

    #[test]
    fn policy_errors_list_every_rule_on_one_line() {
        let err = check_policy("abc", &PasswordPolicy::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "password rejected: it must be at least 8 characters long (it has 3); it must contain \
             an uppercase letter; it must contain a digit; it must contain a special character \
             (anything but a letter or digit)"
        );
    }
}
