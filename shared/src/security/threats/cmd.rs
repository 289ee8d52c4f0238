//! OS command injection: shell separators followed by a command whose arguments look like a
//! command line, command substitution, shellshock, SSI, PHP code execution, sensitive paths.

use super::sql::find;

/// How a command's arguments must look for it to count.
#[derive(Clone, Copy, PartialEq)]
enum A {
    /// May stand alone after an explicit separator (`; id`).
    Bare,
    /// Needs a command-line-looking argument (option, path, URL, quote, `$`, IP...).
    Arg,
    /// Needs a number (and nothing after it): `sleep 10`.
    Num,
    /// Needs one of its known sub-commands: `net user`.
    Sub(&'static [&'static str]),
}

struct Cmd {
    name: &'static str,
    a: A,
    /// Unix commands are case-sensitive: `ID` is not `id`.
    unix: bool,
    /// Not an English word: may also start the input without a separator.
    distinct: bool,
}

const fn c(name: &'static str, a: A, unix: bool, distinct: bool) -> Cmd {
    Cmd {
        name,
        a,
        unix,
        distinct,
    }
}

const NET: &[&str] = &[
    "user",
    "users",
    "localgroup",
    "group",
    "view",
    "share",
    "use",
    "start",
    "stop",
    "config",
    "session",
    "accounts",
    "time",
];
const REG: &[&str] = &["add", "query", "delete", "save", "export", "import", "load"];

const CMDS: &[Cmd] = &[
    c("id", A::Bare, true, false),
    c("ls", A::Bare, true, true),
    c("pwd", A::Bare, true, true),
    c("uname", A::Bare, true, true),
    c("whoami", A::Bare, false, true),
    c("ifconfig", A::Bare, false, true),
    c("ipconfig", A::Bare, false, true),
    c("netstat", A::Bare, false, true),
    c("systeminfo", A::Bare, false, true),
    c("tasklist", A::Bare, false, true),
    c("hostname", A::Bare, true, false),
    c("dir", A::Bare, false, false),
    c("ps", A::Bare, true, false),
    c("env", A::Bare, true, false),
    c("printenv", A::Bare, true, true),
    c("uptime", A::Bare, true, false),
    c("ver", A::Bare, false, false),
    c("bash", A::Bare, true, true),
    c("sh", A::Bare, true, false),
    c("zsh", A::Bare, true, true),
    c("ksh", A::Bare, true, true),
    c("csh", A::Bare, true, true),
    c("cat", A::Arg, true, false),
    c("head", A::Arg, true, false),
    c("tail", A::Arg, true, false),
    c("more", A::Arg, false, false),
    c("less", A::Arg, true, false),
    c("type", A::Arg, false, false),
    c("grep", A::Arg, true, true),
    c("egrep", A::Arg, true, true),
    c("find", A::Arg, false, false),
    c("findstr", A::Arg, false, true),
    c("awk", A::Arg, true, true),
    c("sed", A::Arg, true, true),
    c("chmod", A::Arg, true, true),
    c("chown", A::Arg, true, true),
    c("rm", A::Arg, true, true),
    c("del", A::Arg, false, false),
    c("copy", A::Arg, false, false),
    c("touch", A::Arg, true, false),
    c("base64", A::Arg, true, true),
    c("wget", A::Arg, true, true),
    c("curl", A::Arg, true, true),
    c("nc", A::Arg, true, true),
    c("ncat", A::Arg, true, true),
    c("netcat", A::Arg, true, true),
    c("telnet", A::Arg, false, true),
    c("ping", A::Arg, false, false),
    c("nslookup", A::Arg, false, true),
    c("perl", A::Arg, true, true),
    c("python", A::Arg, true, true),
    c("python3", A::Arg, true, true),
    c("ruby", A::Arg, true, true),
    c("php", A::Arg, true, true),
    c("node", A::Arg, true, false),
    c("powershell", A::Arg, false, true),
    c("cmd", A::Arg, false, true),
    c("cmd.exe", A::Bare, false, true),
    c("certutil", A::Arg, false, true),
    c("bitsadmin", A::Arg, false, true),
    c("wmic", A::Arg, false, true),
    c("kill", A::Arg, true, false),
    c("echo", A::Arg, false, false),
    c("sudo", A::Arg, true, true),
    c("nohup", A::Arg, true, true),
    c("xterm", A::Arg, true, true),
    c("tftp", A::Arg, false, true),
    c("ftp", A::Arg, false, false),
    c("mkdir", A::Arg, true, true),
    c("rmdir", A::Arg, false, true),
    c("net", A::Sub(NET), false, false),
    c("reg", A::Sub(REG), false, false),
    c("sleep", A::Num, true, false),
    c("timeout", A::Num, false, false),
    c("arp", A::Arg, false, true),
    c("route", A::Arg, false, false),
    c("netsh", A::Arg, false, true),
    c(
        "sc",
        A::Sub(&["query", "create", "config", "start", "stop", "qc"]),
        false,
        false,
    ),
    c("schtasks", A::Arg, false, true),
    c("tree", A::Arg, false, false),
    c("who", A::Arg, true, false),
    c("w", A::Arg, true, false),
    c("last", A::Arg, true, false),
    c("crontab", A::Arg, true, true),
    c("df", A::Arg, true, false),
    c("mount", A::Arg, true, false),
    c("iptables", A::Arg, true, true),
    c("lsof", A::Arg, true, true),
    c("getent", A::Arg, true, true),
    c("locate", A::Arg, true, false),
    c("which", A::Arg, true, false),
    c("dig", A::Arg, true, false),
    c("traceroute", A::Arg, true, true),
    c("tracert", A::Arg, false, true),
    c("nmap", A::Arg, true, true),
    c("ssh", A::Arg, true, true),
    c("scp", A::Arg, true, true),
    c("useradd", A::Arg, true, true),
    c("passwd", A::Bare, true, true),
    c("shutdown", A::Arg, false, false),
    c("reboot", A::Bare, true, true),
    c("tar", A::Arg, true, false),
    c("mv", A::Arg, true, true),
    c("cp", A::Arg, true, false),
    c("dd", A::Arg, true, false),
    c("openssl", A::Arg, true, true),
    c("xxd", A::Arg, true, true),
    c("od", A::Arg, true, false),
    c("set", A::Arg, false, false),
    c("history", A::Arg, true, false),
    c("at", A::Arg, false, false),
    c("ssh-keygen", A::Arg, true, true),
    c("msiexec", A::Arg, false, true),
    c("rundll32", A::Arg, false, true),
    c("regsvr32", A::Arg, false, true),
    c("mshta", A::Arg, false, true),
    c("cscript", A::Arg, false, true),
    c("wscript", A::Arg, false, true),
    c("attrib", A::Arg, false, true),
    c("icacls", A::Arg, false, true),
    c("quser", A::Bare, false, true),
    c("qwinsta", A::Bare, false, true),
    c("nbtstat", A::Arg, false, true),
];

const PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/hosts",
    "/etc/issue",
    "/bin/",
    "/usr/bin/",
    "/usr/local/bin/",
    "/sbin/",
    "/dev/tcp/",
    "/dev/udp/",
    "/proc/self/",
    "c:\\windows\\",
    "c:/windows/",
    "boot.ini",
    "win.ini",
    "%systemroot%",
    "%windir%",
    "%comspec%",
    "cmd.exe",
    "powershell.exe",
    "system32",
];

const EXEC_FNS: &[&str] = &[
    "system",
    "exec",
    "passthru",
    "shell_exec",
    "popen",
    "proc_open",
    "pcntl_exec",
    "assert",
    "eval",
    "runtime.getruntime",
];

fn sep(c: u8) -> bool {
    matches!(c, b';' | b'|' | b'&' | b'\n' | b'\r' | b'`' | b'^')
}

fn cmd_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'\\' | b'-' | b':')
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'+') {
        i += 1;
    }
    i
}

const NETWORK: &[&str] = &[
    "ping", "nslookup", "nc", "ncat", "netcat", "telnet", "curl", "wget", "ftp", "tftp",
];

/// `evil.example.com`
fn host_like(a: &[u8]) -> bool {
    let Some(dot) = a.iter().rposition(|&c| c == b'.') else {
        return false;
    };
    let tld = &a[dot + 1..];
    dot > 0
        && tld.len() >= 2
        && tld.iter().all(|c| c.is_ascii_alphabetic())
        && a.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
}

/// `... > /tmp/x` / `... >> out.php` before the next separator.
fn redirect(rest: &[u8]) -> bool {
    let end = rest.iter().position(|&c| sep(c)).unwrap_or(rest.len());
    let r = &rest[..end];
    match r.iter().position(|&c| c == b'>') {
        Some(p) => {
            let mut k = p + 1;
            while k < r.len() && matches!(r[k], b'>' | b' ' | b'&') {
                k += 1;
            }
            let e = r[k..]
                .iter()
                .position(|&c| c == b' ')
                .map_or(r.len(), |x| k + x);
            arg_like(&r[k..e])
        }
        None => false,
    }
}

/// Does an argument look like part of a command line?
fn arg_like(a: &[u8]) -> bool {
    let Some(&f) = a.first() else { return false };
    match f {
        b'-' => a.get(1).is_some_and(|c| c.is_ascii_alphanumeric()),
        b'/' | b'\\' | b'~' | b'$' | b'\'' | b'"' | b'<' | b'>' | b'`' | b'*' => true,
        b'.' => a
            .get(1)
            .is_some_and(|&c| c == b'/' || c == b'.' || c == b'\\'),
        b'%' => a[1..].contains(&b'%'),
        _ => {
            if a.len() >= 2 && a[0].is_ascii_alphabetic() && a[1] == b':' {
                return true; // c:\ , c:
            }
            if a.starts_with(b"http://") || a.starts_with(b"https://") || a.starts_with(b"ftp://") {
                return true;
            }
            if a.iter().filter(|&&c| c == b'.').count() == 3 && a[0].is_ascii_digit() {
                return true; // IPv4
            }
            if a == b"localhost" || a.contains(&b'/') {
                return true;
            }
            if let Some(dot) = a.iter().rposition(|&c| c == b'.') {
                let ext = &a[dot + 1..];
                const EXT: &[&str] = &[
                    "php", "txt", "sh", "py", "pl", "exe", "ini", "conf", "log", "bat", "ps1",
                    "jsp", "asp", "aspx", "js", "cfg", "cgi", "rb", "db", "sql", "xml", "bak",
                ];
                return EXT.iter().any(|e| e.as_bytes() == ext);
            }
            false
        }
    }
}

/// A command at `i` (in `l`, lower-cased; `raw` keeps case). `explicit`: after a separator.
fn command_at(l: &[u8], raw: &[u8], i: usize, explicit: bool) -> bool {
    command_at_d(l, raw, i, explicit, false, 0)
}

/// `lenient`: the context already says "shell" (the input starts with a separator, or the
/// command sits inside backticks): any arguments will do.
fn command_at_d(l: &[u8], raw: &[u8], i: usize, explicit: bool, lenient: bool, depth: u8) -> bool {
    let mut j = i;
    while j < l.len() && cmd_byte(l[j]) {
        j += 1;
    }
    if j == i || j - i > 64 {
        return false;
    }
    // What follows the command word must end it.
    if let Some(&n) = l.get(j) {
        if !(matches!(
            n,
            b' ' | b'\t' | b'+' | b')' | b'\'' | b'"' | b'>' | b'<' | b'{' | b'$'
        ) || sep(n))
        {
            return false;
        }
    }
    let word = &l[i..j];
    // Wrappers: `busybox nc ...`, `sudo cat ...`, `nohup sh ...`
    if depth == 0
        && matches!(
            word,
            b"busybox" | b"sudo" | b"nohup" | b"exec" | b"xargs" | b"time"
        )
        && explicit
        && command_at_d(l, raw, skip_ws(l, j), true, lenient, 1)
    {
        return true;
    }
    let cut = word
        .iter()
        .rposition(|&c| c == b'/' || c == b'\\')
        .map_or(0, |p| p + 1);
    let is_path = cut > 0;
    // `http://host/a/echo` is a URL whose last segment happens to be a command's name, not a
    // command run by its path.
    if is_path && word.windows(3).any(|w| w == b"://") {
        return false;
    }
    let name = &word[cut..];
    let Some(cmd) = CMDS.iter().find(|c| c.name.as_bytes() == name) else {
        return false;
    };
    if cmd.unix && raw[i + cut..j] != *name {
        return false;
    }
    if is_path && (word.starts_with(b"/") || word.contains(&b'/')) {
        return true;
    }
    if !explicit && !cmd.distinct {
        return false;
    }
    let a0 = skip_ws(l, j);
    let mut a1 = a0;
    while a1 < l.len()
        && !matches!(l[a1], b' ' | b'\t' | b'+')
        && !(a1 > a0 && (sep(l[a1]) || matches!(l[a1], b')' | b'\'' | b'"')))
    {
        a1 += 1;
    }
    let arg = &l[a0..a1];
    let ends = |k: usize| {
        let k = skip_ws(l, k);
        k >= l.len() || sep(l[k]) || matches!(l[k], b'\'' | b'"' | b')')
    };
    if lenient {
        return true;
    }
    match cmd.a {
        A::Bare => (explicit && ends(j)) || arg_like(arg),
        A::Arg => {
            arg_like(arg) || (NETWORK.contains(&cmd.name) && host_like(arg)) || redirect(&l[a0..])
        }
        A::Num => explicit && !arg.is_empty() && arg.iter().all(|c| c.is_ascii_digit()) && ends(a1),
        A::Sub(subs) => subs.iter().any(|s| s.as_bytes() == arg),
    }
}

pub(crate) fn scan(raw: &str) -> Option<(&'static str, usize)> {
    let r = raw.as_bytes();
    let l = raw.to_ascii_lowercase();
    let l = l.as_bytes();
    let compact: Vec<u8> = l
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if let Some(p) = find(&compact, b"(){:;}") {
        return Some(("cmdi.shellshock", p.min(l.len())));
    }
    if let Some(p) = find(l, b"<!--#") {
        let d = &l[p + 5..];
        if [
            "exec", "include", "echo", "config", "fsize", "flastmod", "printenv", "set",
        ]
        .iter()
        .any(|k| d.starts_with(k.as_bytes()))
        {
            return Some(("cmdi.ssi", p));
        }
    }
    for pat in [&b"<?php"[..], b"<?="] {
        if let Some(p) = find(l, pat) {
            return Some(("cmdi.php_code", p));
        }
    }
    // Code execution: system('...'), exec("..."), passthru($x); template ${...(...)}
    for f in EXEC_FNS {
        let n = f.as_bytes();
        let mut i = 0;
        while let Some(p) = find(&l[i..], n) {
            let at = i + p;
            i = at + 1;
            if at > 0 && (l[at - 1].is_ascii_alphanumeric() || l[at - 1] == b'_') {
                continue;
            }
            let k = skip_ws(l, at + n.len());
            if l.get(k) != Some(&b'(') {
                continue;
            }
            let k = skip_ws(l, k + 1);
            if matches!(l.get(k), Some(b'\'' | b'"' | b'$' | b'`')) {
                return Some(("cmdi.code_exec", at));
            }
        }
    }
    let mut i = 0;
    while let Some(p) = find(&l[i..], b"${") {
        let at = i + p;
        i = at + 2;
        let mut k = at + 2;
        if l.get(k) == Some(&b'@') {
            k += 1;
        }
        let st = k;
        while k < l.len() && (l[k].is_ascii_alphanumeric() || l[k] == b'_') {
            k += 1;
        }
        if k > st && l.get(k) == Some(&b'(') {
            return Some(("cmdi.template_exec", at));
        }
    }
    // Separators (and the start) followed by a command.
    let n = l.len();
    let mut i = 0;
    let mut prev_sep = true; // start of input
    let mut explicit = false;
    let mut quote_sub = false;
    while i <= n {
        if prev_sep {
            let mut k = skip_ws(l, i);
            // `;"id`, `$(cmd)`, `` `cmd` ``
            if matches!(l.get(k), Some(b'\'' | b'"')) && explicit {
                k = skip_ws(l, k + 1);
            }
            if l.get(k) == Some(&b'$') {
                // `;$CMD` variable execution, `$'cmd'` ANSI-C quoting, `$(cmd)`
                match l.get(k + 1) {
                    Some(c) if c.is_ascii_alphabetic() && explicit => {
                        let mut e = k + 1;
                        while e < n && (l[e].is_ascii_alphanumeric() || l[e] == b'_') {
                            e += 1;
                        }
                        if e == n || sep(l[e]) || l[e] == b' ' {
                            return Some(("cmdi.variable_exec", k));
                        }
                    }
                    Some(b'(') => {
                        let k2 = skip_ws(l, k + 2);
                        if l.get(k2) == Some(&b'`') || command_at(l, r, k2, true) {
                            return Some(("cmdi.substitution", k));
                        }
                    }
                    _ => {}
                }
            }
            let lenient = explicit
                && ((quote_sub && l[k..].contains(&b'`'))
                    || l[..i.saturating_sub(1)].iter().all(|&c| {
                        matches!(c, b' ' | b'\'' | b'"' | b';' | b'|' | b'&' | b'\n' | b'\r')
                    }));
            if command_at_d(l, r, k, explicit || quote_sub, lenient, 0) {
                return Some((
                    if quote_sub {
                        "cmdi.substitution"
                    } else {
                        "cmdi.chained_command"
                    },
                    k,
                ));
            }
        }
        if i == n {
            break;
        }
        let c = l[i];
        prev_sep = sep(c);
        explicit = prev_sep;
        quote_sub = c == b'`';
        i += 1;
    }
    // ANSI-C / locale quoting with a command inside: CMD=$'pwd', $"ls -la"
    let mut i = 0;
    while let Some(p) = find(&l[i..], b"$") {
        let at = i + p;
        i = at + 1;
        if matches!(l.get(at + 1), Some(b'\'' | b'"' | b'(')) {
            let k = skip_ws(l, at + 2);
            if command_at(l, r, k, true) {
                return Some(("cmdi.substitution", at));
            }
        }
    }
    for p in PATHS {
        let pb = p.as_bytes();
        let mut i = 0;
        while let Some(q) = find(&l[i..], pb) {
            let at = i + q;
            i = at + 1;
            if pb[0] == b'/' && at > 0 && (l[at - 1].is_ascii_alphanumeric() || l[at - 1] == b'.') {
                // part of a URL path (example.com/bin/...), unless it is `usr/bin/...`
                if !(l[..at].ends_with(b"usr") || l[..at].ends_with(b"local")) {
                    continue;
                }
            }
            return Some(("cmdi.sensitive_path", at));
        }
    }
    None
}
