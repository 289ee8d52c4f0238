//! OS command injection: shell separators followed by a command whose arguments look like a
//! command line, command substitution, shellshock, SSI, PHP code execution, sensitive paths.

use super::search::{find, Needles};
use super::work;

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
    /// Like `Bare`, and also with one of its usual arguments: `ps aux`.
    BareOr(&'static [&'static str]),
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
    Cmd { name, a, unix, distinct }
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
    c("ps", A::BareOr(&["aux", "ax", "ef", "-ef", "-aux", "faux"]), true, false),
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
    c(
        "wmic",
        A::Sub(&[
            "process",
            "os",
            "useraccount",
            "service",
            "qfe",
            "startup",
            "computersystem",
            "product",
            "nicconfig",
            "share",
            "logicaldisk",
            "group",
        ]),
        false,
        true,
    ),
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
    c("sc", A::Sub(&["query", "create", "config", "start", "stop", "qc"]), false, false),
    c("schtasks", A::Arg, false, true),
    c("tree", A::Arg, false, false),
    c("who", A::Arg, true, false),
    c("w", A::Arg, true, false),
    c("last", A::Bare, true, false),
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
    c("chdir", A::Bare, false, true),
    c("sysinfo", A::Bare, false, true),
    c("qwinsta", A::Bare, false, true),
    c("nbtstat", A::Arg, false, true),
];

const PATHS: Needles<22> = Needles::new([
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
]);

const EXEC_FNS: Needles<10> = Needles::new([
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
]);
const PHP: Needles<2> = Needles::new(["<?php", "<?="]);
const PHP_PROBES: Needles<2> = Needles::new(["phpinfo", "phpversion"]);

fn sep(c: u8) -> bool {
    matches!(c, b';' | b'|' | b'&' | b'\n' | b'\r' | b'`' | b'^')
}

fn cmd_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'\\' | b'-' | b':')
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    let from = i;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'+') {
        i += 1;
    }
    // The call itself is a part of its caller's step (it runs at most a few times a step).
    if i > from {
        work::add(i - from);
    }
    i
}

const NETWORK: &[&str] = &["ping", "nslookup", "nc", "ncat", "netcat", "telnet", "curl", "wget", "ftp", "tftp", "dig"];

/// Ends a command's argument (except as its first byte: `)` or a quote may start one).
fn ends_arg(c: u8) -> bool {
    // `#` starts a shell comment: `; net view#`
    matches!(c, b' ' | b'\t' | b'+' | b')' | b'\'' | b'"' | b'#') || sep(c)
}

/// Ends the target of a redirection (`> /tmp/x`).
fn ends_target(c: u8) -> bool {
    c == b' ' || sep(c)
}

/// What `arg_like` and `host_like` ask about an argument, for every argument that ends where
/// this run ends: `start..end` holds no byte that ends an argument (but perhaps the first).
/// Arguments that share their end (`$(cat{$(cat{…`, one `$(` after another with no space
/// between) are answered from one read of the run instead of a read each.
#[derive(Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
    last_slash: Option<usize>,
    last_percent: Option<usize>,
    /// The last four dots, the latest first: enough to tell "exactly three" (an IPv4 address).
    last_dots: [Option<usize>; 4],
    /// The last byte that cannot be part of a host name (letters, digits, `.`, `-`).
    last_not_host: Option<usize>,
    /// The last byte that is not a letter.
    last_not_letter: Option<usize>,
    /// The last byte that is not a digit.
    last_not_digit: Option<usize>,
}

impl Run {
    fn read(l: &[u8], start: usize, ends: fn(u8) -> bool) -> Run {
        let mut run = Run {
            start,
            end: start,
            last_slash: None,
            last_percent: None,
            last_dots: [None; 4],
            last_not_host: None,
            last_not_letter: None,
            last_not_digit: None,
        };
        let mut i = start;
        while i < l.len() && (i == start || !ends(l[i])) {
            let c = l[i];
            match c {
                b'/' => run.last_slash = Some(i),
                b'%' => run.last_percent = Some(i),
                b'.' => {
                    let [d1, d2, d3, _] = run.last_dots;
                    run.last_dots = [Some(i), d1, d2, d3];
                }
                _ => {}
            }
            if !(c.is_ascii_alphanumeric() || c == b'.' || c == b'-') {
                run.last_not_host = Some(i);
            }
            if !c.is_ascii_alphabetic() {
                run.last_not_letter = Some(i);
            }
            if !c.is_ascii_digit() {
                run.last_not_digit = Some(i);
            }
            i += 1;
        }
        work::add(i - start + 1);
        run.end = i;
        run
    }

    /// Dots in `start..end`; 4 means four or more.
    fn dots_from(&self, start: usize) -> usize {
        self.last_dots.iter().filter(|d| d.is_some_and(|d| d >= start)).count()
    }

    fn last_dot_from(&self, start: usize) -> Option<usize> {
        self.last_dots[0].filter(|&d| d >= start)
    }
}

/// `evil.example.com`: the argument `l[start..run.end]`.
fn host_like(l: &[u8], start: usize, run: &Run) -> bool {
    let Some(dot) = run.last_dot_from(start) else {
        return false;
    };
    let tld = &l[dot + 1..run.end];
    dot > start
        && tld.len() >= 2
        // nothing but letters after the last dot
        && run.last_not_letter == Some(dot)
        && run.last_not_host.is_none_or(|p| p < start)
}

/// Does the argument `l[start..run.end]` look like part of a command line?
fn arg_like(l: &[u8], start: usize, run: &Run) -> bool {
    let a = &l[start..run.end];
    let Some(&f) = a.first() else { return false };
    match f {
        b'-' => a.get(1).is_some_and(|c| c.is_ascii_alphanumeric()),
        b'/' | b'\\' | b'~' | b'$' | b'\'' | b'"' | b'<' | b'>' | b'`' | b'*' => true,
        b'.' => a.get(1).is_some_and(|&c| c == b'/' || c == b'.' || c == b'\\'),
        b'%' => run.last_percent.is_some_and(|p| p > start),
        _ => {
            if a.len() >= 2 && a[0].is_ascii_alphabetic() && a[1] == b':' {
                return true; // c:\ , c:
            }
            if a.starts_with(b"http://") || a.starts_with(b"https://") || a.starts_with(b"ftp://") {
                return true;
            }
            if run.dots_from(start) == 3 && a[0].is_ascii_digit() {
                return true; // IPv4
            }
            if a == b"localhost" || run.last_slash.is_some_and(|p| p >= start) {
                return true;
            }
            if let Some(dot) = run.last_dot_from(start) {
                let ext = &l[dot + 1..run.end];
                const EXT: &[&str] = &[
                    "php", "txt", "sh", "py", "pl", "exe", "ini", "conf", "log", "bat", "ps1", "jsp", "asp", "aspx",
                    "js", "cfg", "cgi", "rb", "db", "sql", "xml", "bak",
                ];
                return EXT.iter().any(|e| e.as_bytes() == ext);
            }
            false
        }
    }
}

/// The input (lower-cased, and as sent) and what has been read of it so far. The questions
/// come front to back (command after command), so each remembered answer serves every later
/// question it covers and the input is read a bounded number of times in all.
struct Shell<'a> {
    lower: &'a [u8],
    raw: &'a [u8],
    /// The last argument run read.
    args: Option<Run>,
    /// The last second-argument run read.
    second_args: Option<Run>,
    /// The last redirection-target run read.
    targets: Option<Run>,
    /// `(from, at)`: the first `>` or separator at or after `from` is at `at` (or there is
    /// none and `at` is the end).
    redirect_or_sep: Option<(usize, usize)>,
    /// `(at, start)`: the target of the `>` at `at` starts at `start`.
    target_start: Option<(usize, usize)>,
}

impl<'a> Shell<'a> {
    fn new(lower: &'a [u8], raw: &'a [u8]) -> Self {
        Shell { lower, raw, args: None, second_args: None, targets: None, redirect_or_sep: None, target_start: None }
    }

    /// The argument that starts at `start`: the run it belongs to.
    fn arg_run(&mut self, start: usize) -> Run {
        match self.args {
            Some(run) if run.start <= start && start < run.end => run,
            _ => {
                let run = Run::read(self.lower, start, ends_arg);
                self.args = Some(run);
                run
            }
        }
    }

    /// The argument after `first` looks like part of a command line (`chmod 777 /tmp/x`).
    fn second_arg_like(&mut self, first: &Run) -> bool {
        let l = self.lower;
        if first.end == first.start {
            return false;
        }
        let a1 = skip_ws(l, first.end);
        if a1 >= l.len() || a1 == first.end || sep(l[a1]) {
            return false;
        }
        let run = match self.second_args {
            Some(run) if run.start <= a1 && a1 < run.end => run,
            _ => {
                let run = Run::read(l, a1, ends_arg);
                self.second_args = Some(run);
                run
            }
        };
        arg_like(l, a1, &run)
    }

    /// `... > /tmp/x` / `... >> out.php` between `from` and the next separator.
    fn redirect(&mut self, from: usize) -> bool {
        let l = self.lower;
        let at = match self.redirect_or_sep {
            Some((f, at)) if f <= from && from <= at => at,
            _ => {
                let at = l[from..].iter().position(|&c| c == b'>' || sep(c)).map_or(l.len(), |p| from + p);
                work::add(at - from + 1);
                self.redirect_or_sep = Some((from, at));
                at
            }
        };
        if l.get(at) != Some(&b'>') {
            return false;
        }
        let start = match self.target_start {
            Some((a, start)) if a == at => start,
            _ => {
                let mut k = at + 1;
                while k < l.len() && matches!(l[k], b'>' | b' ') {
                    k += 1;
                }
                work::add(k - at);
                self.target_start = Some((at, k));
                k
            }
        };
        if start >= l.len() || sep(l[start]) {
            return false;
        }
        let run = match self.targets {
            Some(run) if run.start <= start && start < run.end => run,
            _ => {
                let run = Run::read(l, start, ends_target);
                self.targets = Some(run);
                run
            }
        };
        arg_like(l, start, &run)
    }

    /// A command at `i`. `explicit`: after a separator. `lenient`: the context already says
    /// "shell" (the input starts with a separator, or the command sits inside backticks): any
    /// arguments will do.
    fn command_at(&mut self, i: usize, explicit: bool, lenient: bool) -> bool {
        self.command_at_depth(i, explicit, lenient, 0)
    }

    fn command_at_depth(&mut self, i: usize, explicit: bool, lenient: bool, depth: u8) -> bool {
        let l = self.lower;
        // The command word, at most 64 bytes.
        let mut j = i;
        while j < l.len() && j - i <= 64 && cmd_byte(l[j]) {
            j += 1;
        }
        if j > i {
            work::add(j - i);
        }
        if j == i || j - i > 64 {
            return false;
        }
        // `;/???/??t /???/p??s??`: a program named by a path of shell wildcards.
        if explicit && l[i] == b'/' && matches!(l.get(j), Some(b'?' | b'*')) {
            return true;
        }
        // What follows the command word must end it.
        if let Some(&n) = l.get(j) {
            if !(matches!(n, b' ' | b'\t' | b'+' | b')' | b'\'' | b'"' | b'>' | b'<' | b'{' | b'$' | b'#') || sep(n)) {
                return false;
            }
        }
        // Wrappers: `busybox nc ...`, `sudo cat ...`, `nohup sh ...`. The wrapper itself is
        // tried first (either order gives the same answer) so that the input is read front
        // to back.
        let wraps = depth == 0
            && explicit
            && matches!(&l[i..j], b"busybox" | b"sudo" | b"nohup" | b"exec" | b"xargs" | b"time");
        self.known_command(i, j, explicit, lenient) || (wraps && self.command_at_depth(skip_ws(l, j), true, lenient, 1))
    }

    /// The word `i..j` names a command whose arguments fit.
    fn known_command(&mut self, i: usize, j: usize, explicit: bool, lenient: bool) -> bool {
        let l = self.lower;
        let word = &l[i..j];
        let cut = word.iter().rposition(|&c| c == b'/' || c == b'\\').map_or(0, |p| p + 1);
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
        if cmd.unix && self.raw[i + cut..j] != *name {
            return false;
        }
        // Run by its path: absolute, relative to here or home, or in a `bin` directory
        // (`/bin/cat`, `./x`, `usr/bin/id`); `mulch/tree` is two words.
        let program_path = word.starts_with(b"/")
            || word.starts_with(b"./")
            || word.starts_with(b"../")
            || word.starts_with(b"~/")
            || word.windows(4).any(|w| w == b"bin/" || w == b"bin\\");
        if is_path && program_path && word.contains(&b'/') {
            return true;
        }
        if !explicit && !cmd.distinct {
            return false;
        }
        if lenient {
            return true;
        }
        let a0 = skip_ws(l, j);
        let ends = |k: usize| {
            let k = skip_ws(l, k);
            k >= l.len() || sep(l[k]) || matches!(l[k], b'\'' | b'"' | b')' | b'#')
        };
        match cmd.a {
            A::Bare => (explicit && ends(j)) || arg_like(l, a0, &self.arg_run(a0)),
            A::Arg => {
                let run = self.arg_run(a0);
                arg_like(l, a0, &run)
                    || (NETWORK.contains(&cmd.name) && host_like(l, a0, &run))
                    || self.second_arg_like(&run)
                    || self.redirect(a0)
            }
            A::Num => {
                let run = self.arg_run(a0);
                explicit && a0 < run.end && run.last_not_digit.is_none_or(|p| p < a0) && ends(run.end)
            }
            A::Sub(subs) => {
                let run = self.arg_run(a0);
                subs.iter().any(|s| s.as_bytes() == &l[a0..run.end])
            }
            A::BareOr(args) => {
                let run = self.arg_run(a0);
                (explicit && ends(j))
                    || arg_like(l, a0, &run)
                    || (explicit && args.iter().any(|s| s.as_bytes() == &l[a0..run.end]))
            }
        }
    }
}

/// `cat${IFS}/etc/passwd`, `net$IFS$9view`: the shell's field separator spelled as a
/// variable is blanked out (same length, so positions in both copies still agree).
fn blank_field_separators(lower: &mut [u8], raw: &mut [u8]) {
    let mut i = 0;
    while i < lower.len() {
        let rest = &lower[i..];
        let len = if rest.starts_with(b"${ifs}") || rest.starts_with(b"$ifs$9") {
            6
        } else if rest.starts_with(b"$ifs") {
            4
        } else {
            0
        };
        if len == 0 {
            i += 1;
            continue;
        }
        lower[i..i + len].fill(b' ');
        raw[i..i + len].fill(b' ');
        i += len;
    }
    work::add(lower.len() + 1);
}

pub(crate) fn scan(raw: &str) -> Option<(&'static str, usize)> {
    let mut r = raw.as_bytes().to_vec();
    let mut l = raw.to_ascii_lowercase().into_bytes();
    blank_field_separators(&mut l, &mut r);
    let (r, l) = (&r[..], &l[..]);
    let compact: Vec<u8> = l.iter().copied().filter(|c| !c.is_ascii_whitespace()).collect();
    work::add(2 * l.len());
    if let Some(p) = find(&compact, b"(){:;}") {
        return Some(("cmdi.shellshock", p.min(l.len())));
    }
    if let Some(p) = find(l, b"<!--#") {
        let d = &l[p + 5..];
        if ["exec", "include", "echo", "config", "fsize", "flastmod", "printenv", "set"]
            .iter()
            .any(|k| d.starts_with(k.as_bytes()))
        {
            return Some(("cmdi.ssi", p));
        }
    }
    // `phpinfo()`, `;phpversion();`: PHP's own probes, called
    if let Some((_, p)) = PHP_PROBES.first(l, |i, at| {
        (at == 0 || !l[at - 1].is_ascii_alphanumeric()) && l.get(at + PHP_PROBES.get(i).len()) == Some(&b'(')
    }) {
        return Some(("cmdi.php_code", p));
    }
    if let Some((_, p)) = PHP.first(l, |_, _| true) {
        return Some(("cmdi.php_code", p));
    }
    // Code execution: system('...'), exec("..."), passthru($x); template ${...(...)}
    let exec_call = |f: usize, at: usize| {
        if at > 0 && (l[at - 1].is_ascii_alphanumeric() || l[at - 1] == b'_') {
            return false;
        }
        let k = skip_ws(l, at + EXEC_FNS.get(f).len());
        if l.get(k) != Some(&b'(') {
            return false;
        }
        let k = skip_ws(l, k + 1);
        matches!(l.get(k), Some(b'\'' | b'"' | b'$' | b'`'))
    };
    if let Some((_, at)) = EXEC_FNS.first(l, exec_call) {
        return Some(("cmdi.code_exec", at));
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
        work::add(k - st);
        if k > st && l.get(k) == Some(&b'(') {
            return Some(("cmdi.template_exec", at));
        }
    }
    // Separators (and the start) followed by a command.
    let mut shell = Shell::new(l, r);
    let n = l.len();
    // What `lenient` asks at every separator, read once: how far the input is nothing but
    // separators, quotes and spaces, and where its last backtick is.
    let lead = l.iter().take_while(|&&c| matches!(c, b' ' | b'\'' | b'"' | b';' | b'|' | b'&' | b'\n' | b'\r')).count();
    let last_backtick = l.iter().rposition(|&c| c == b'`');
    work::add(lead + n + 1);
    // `<whoami`, `<ls -la /tmp`: an input that starts by redirecting into a command reads
    // as one that starts with a separator.
    let first = l.iter().position(|&c| c != b' ').unwrap_or(n);
    work::add(first + 1);
    let mut i = 0;
    let mut prev_sep = true; // start of input
    let mut explicit = false;
    if l.get(first) == Some(&b'<') && l.get(first + 1).is_some_and(u8::is_ascii_alphabetic) {
        i = first + 1;
        explicit = true;
    }
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
                        work::add(e - k);
                        if e == n || sep(l[e]) || l[e] == b' ' {
                            return Some(("cmdi.variable_exec", k));
                        }
                    }
                    Some(b'(') => {
                        let k2 = skip_ws(l, k + 2);
                        if l.get(k2) == Some(&b'`') || shell.command_at(k2, true, false) {
                            return Some(("cmdi.substitution", k));
                        }
                    }
                    _ => {}
                }
            }
            // Everything before the separator is separators, quotes and spaces, or a backtick
            // closes this one.
            let lenient =
                explicit && ((quote_sub && last_backtick.is_some_and(|b| b >= k)) || i.saturating_sub(1) <= lead);
            if shell.command_at(k, explicit || quote_sub, lenient) {
                return Some((if quote_sub { "cmdi.substitution" } else { "cmdi.chained_command" }, k));
            }
        }
        if i == n {
            break;
        }
        let c = l[i];
        // `\nid`, `\r\nwhoami`: a newline written as an escape (normalising keeps `\n` before a
        // letter, for Windows paths such as `C:\new`), read as the separator it stands for.
        let escaped_newline = c == b'\\' && matches!(l.get(i + 1), Some(b'n' | b'r'));
        prev_sep = sep(c) || escaped_newline;
        explicit = prev_sep;
        quote_sub = c == b'`';
        i += if escaped_newline { 2 } else { 1 };
    }
    // ANSI-C / locale quoting with a command inside: CMD=$'pwd', $"ls -la"
    let mut i = 0;
    while let Some(p) = find(&l[i..], b"$") {
        let at = i + p;
        i = at + 1;
        if matches!(l.get(at + 1), Some(b'\'' | b'"' | b'(')) {
            let k = skip_ws(l, at + 2);
            if shell.command_at(k, true, false) {
                return Some(("cmdi.substitution", at));
            }
        }
    }
    let sensitive = |p: usize, at: usize| {
        if PATHS.get(p)[0] == b'/' && at > 0 && (l[at - 1].is_ascii_alphanumeric() || l[at - 1] == b'.') {
            // part of a URL path (example.com/bin/...), unless it is `usr/bin/...`
            return l[..at].ends_with(b"usr") || l[..at].ends_with(b"local");
        }
        true
    };
    PATHS.first(l, sensitive).map(|(_, at)| ("cmdi.sensitive_path", at))
}
