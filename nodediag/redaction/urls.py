"""URLs keep scheme, host and path shape; user:password@, provider API keys and secret query values go.

Provider forms: Alchemy `/v2/<key>`, Infura `/v3/<key>`, QuickNode `https://name.quiknode.pro/<token>/`,
Ankr `/eth/<key>`, Chainstack/GetBlock/Blast `/<key>`, drpc `?dkey=`. Elsewhere a path segment is a
key only when it looks like one: 20+ characters of [A-Za-z0-9_-] mixing letters and digits, and not a
`0x` hash, a UUID, a `sha256-<hex>` digest, a bare 40/64-hex hash or a dash-separated slug of words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .names import QUERY_PARAM_KINDS, secret_kind_for_name

Placeholder = Callable[[str, str], str]  # (kind, secret) -> placeholder text
Finding = tuple[str, str]  # (kind, secret value)

# A URL body may already hold placeholders (a password or key replaced as a known literal).
# The first branch takes runs, not single characters: twice as fast on log blocks.
# A URL does not end in prose punctuation ("fetching from https://host/v2/KEY: failed").
_URL_BODY = re.compile(r"://(?:[^\s\"'<>\[\]{}|\\^`,]+|\[REDACTED:[a-z_]+#[0-9a-f]{8}\])+(?<![.:;!?])")
_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]+#[0-9a-f]{8}\]")
_PATH_KEY_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_NO_SECRET_SCHEMES = frozenset({"file"})

_KEYISH = re.compile(r"[A-Za-z0-9_-]{20,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DIGEST = re.compile(r"[A-Za-z0-9]+[-_:][0-9a-fA-F]{16,}")
_BARE_HASH = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_SLUG_PART = re.compile(r"[A-Za-z]+|[0-9]+")
_KEYISH_RUN = re.compile(r"[A-Za-z0-9_-]{20,}")
# A path segment _looks_like_key may take: all of it key characters, '/' before, the path's end after.
_KEY_SEGMENT = re.compile(r"/[A-Za-z0-9_-]{20,}(?:[/?#\n]|\Z)")
_PROVIDER_HINTS = ("alchemy", "infura", "ankr", "quiknode", "chainstack", "p2pify", "getblock", "blastapi",
                   "nodereal")


def _may_hold_secret(body: str) -> bool:
    """Cheap test that lets most URLs in a log skip the full rewrite.

    False where rewrite_url_rest changes nothing under any scheme: a secret needs a user-info
    ``@``, a query ``?``, a provider's host in any case (_provider_key_index compares it
    lower-cased: ETH-MAINNET.G.ALCHEMY.COM/v2/ holds a key of six characters or more) or a path
    segment shaped like a key (_KEY_SEGMENT; a run of 20 key characters elsewhere, as in a stack
    trace's ``file:///.../broker_prover_facade.js:12:5``, is none)."""
    if "@" in body or "?" in body or _provider_hint_in(body.lower()):
        return True
    return _KEYISH_RUN.search(body) is not None and _KEY_SEGMENT.search(body) is not None


def _provider_hint_in(low: str) -> bool:
    return any(hint in low for hint in _PROVIDER_HINTS)


def _none_may_hold_secret(bodies: set[str]) -> bool:
    """True when _may_hold_secret is False on every body: its tests run once over all of them
    (bodies hold no newline: joined by one, no test matches across two)."""
    joined = "\n".join(bodies)
    return not ("@" in joined or "?" in joined or _provider_hint_in(joined.lower())
                or (_KEYISH_RUN.search(joined) is not None and _KEY_SEGMENT.search(joined) is not None))


def _looks_like_key(segment: str) -> bool:
    if not _KEYISH.fullmatch(segment) or segment[:2].lower() == "0x":
        return False
    if _UUID.fullmatch(segment) or _DIGEST.fullmatch(segment) or _BARE_HASH.fullmatch(segment):
        return False
    if all(_SLUG_PART.fullmatch(p) for p in re.split(r"[-_]", segment) if p):
        return False  # words and numbers joined by dashes: a slug, not a key
    return any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)


def _provider_key_index(host: str, segments: list[str]) -> int | None:
    """Index in segments (segments[0] is the empty string before the first '/') of a provider key."""
    def after(marker_values: tuple[str, ...]) -> int | None:
        for i, seg in enumerate(segments[:-1]):
            if seg.lower() in marker_values:
                return i + 1
        return None

    if host.endswith("alchemy.com") or host.endswith("alchemyapi.io"):
        return after(("v2", "v3"))
    if host.endswith("infura.io"):
        return after(("v3", "v2", "v1"))
    if host.endswith("ankr.com"):
        return 2 if len(segments) > 2 else None
    if any(host.endswith(h) for h in ("quiknode.pro", "chainstack.com", "p2pify.com", "getblock.io",
                                        "blastapi.io", "nodereal.io")):
        return 1 if len(segments) > 1 else None
    return None


def _authority_end(rest: str) -> int:
    """Where the authority of ``rest`` (a URL after ``scheme://``) ends: at the first ``/``, ``?``
    or ``#``; but a raw ``#`` followed by ``@host`` before any ``/`` or ``?`` is a password that
    holds ``#`` unencoded (`user:pa#ss@host`, invalid but pasted): the userinfo runs to that ``@``."""
    cut = len(rest)
    for ch in "/?":
        i = rest.find(ch)
        if i != -1 and i < cut:
            cut = i
    hash_at = rest.find("#", 0, cut)
    if hash_at != -1 and "@" not in rest[hash_at:cut]:
        cut = hash_at
    return cut


def _is_placeholder(value: str) -> bool:
    return value.startswith("[REDACTED:")


def _provider_kind(host: str) -> str:
    return "token" if host.endswith("quiknode.pro") else "api_key"


def rewrite_url_rest(scheme: str, rest: str, findings: list[Finding]) -> str:
    """Rewrite the part after `scheme://`, appending (kind, secret) for every secret removed."""
    scheme = scheme.lower()
    if scheme in _NO_SECRET_SCHEMES:
        return rest
    cut = _authority_end(rest)
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        known = _PLACEHOLDER.findall(userinfo)
        if known and userinfo != "".join(known):  # user:[REDACTED..] -> [REDACTED..]
            authority = f"{''.join(known)}@{host}"
        elif userinfo and not known and any(c.isalnum() for c in userinfo.rpartition(":")[2] or userinfo):
            user, _, password = userinfo.partition(":")
            secret = password or user
            findings.append(("url_credential", secret))
            authority = f"\x00url_credential\x00{secret}\x00@{host}"
    host = authority.rsplit("@", 1)[-1].split(":", 1)[0].lower()
    frag_at = tail.find("#")
    fragment = tail[frag_at:] if frag_at != -1 else ""
    tail = tail[:frag_at] if frag_at != -1 else tail
    path, sep, query = tail.partition("?")
    if scheme in _PATH_KEY_SCHEMES and path:
        segments = path.split("/")
        key_at = _provider_key_index(host, segments)
        for i, seg in enumerate(segments):
            if not seg or _is_placeholder(seg):
                continue
            if i == key_at and len(seg) >= 6:
                kind = _provider_kind(host)
            elif _looks_like_key(seg):
                kind = "api_key"
            else:
                continue
            findings.append((kind, seg))
            segments[i] = f"\x00{kind}\x00{seg}\x00"
        path = "/".join(segments)
    if query:
        params = query.split("&")
        for i, param in enumerate(params):
            name, eq, value = param.partition("=")
            if not eq or not value or _is_placeholder(value) or not any(c.isalnum() for c in value):
                continue
            param_kind = QUERY_PARAM_KINDS.get(name.lower()) or secret_kind_for_name(name)
            if param_kind is None:
                continue
            findings.append((param_kind, value))
            params[i] = f"{name}=\x00{param_kind}\x00{value}\x00"
        query = "&".join(params)
    return authority + path + sep + query + fragment


_MARK = re.compile("\x00([a-z_]+)\x00([^\x00]*)\x00")


_SCHEME_AT_END = re.compile(r"[A-Za-z0-9+.-]{1,20}$")


def _scheme_before(text: str, at: int) -> str:
    m = _SCHEME_AT_END.search(text, max(0, at - 20), at)
    return m.group() if m else ""


def url_secrets(url: str) -> list[Finding]:
    """(kind, secret) parts of every URL in a string, e.g. a comma-separated ETHEREUM_HOSTS value."""
    findings: list[Finding] = []
    for m in _URL_BODY.finditer(url):
        rewrite_url_rest(_scheme_before(url, m.start()), m.group()[3:], findings)
    return findings


def url_userinfo(text: str) -> list[tuple[str, str]]:
    """(user, password) of every URL in text with a `user:password@` part."""
    found: list[tuple[str, str]] = []
    for m in _URL_BODY.finditer(text):
        rest = m.group()[3:]
        authority = rest[:_authority_end(rest)]
        if "@" in authority:
            user, sep, password = authority.rsplit("@", 1)[0].partition(":")
            if sep and user and password and not _is_placeholder(password):
                found.append((user, password))
    return found


class UrlCache:
    """Rewritten URL bodies by original body: logs repeat the same few URLs on many lines."""

    LIMIT = 20_000

    def __init__(self) -> None:
        self.rewrites: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.unchanged: set[str] = set()  # bodies (with the leading ://) that hold no secret


def redact_urls(text: str, placeholder: Placeholder, record: Callable[[str, int], None],
                cache: UrlCache | None = None, learn: Callable[[str, str], None] | None = None,
                learn_userinfo: Callable[[str, str], None] | None = None) -> str:
    """Replace the secret parts of every URL in text by placeholders. ``learn(secret, kind)`` is
    called once per distinct URL for each secret in it, to propagate it; ``learn_userinfo(user,
    password)`` for each ``user:password@`` (whose HTTP Basic form a log may print too)."""
    bodies = _URL_BODY.findall(text)  # as cheap as a `"://" in text` test when there is none
    if not bodies:
        return text
    rewrites = cache.rewrites if cache is not None else {}
    # Logs repeat a few URLs on thousands of lines: decide once per distinct body (at C speed) and
    # walk the matches only when one of them changes. A body unchanged under https (which also
    # looks at path segments) is unchanged under every scheme.
    unchanged = cache.unchanged if cache is not None else set()
    changing = False
    distinct = set(bodies)
    distinct -= unchanged
    if _none_may_hold_secret(distinct):  # the usual case, decided at C speed
        if len(unchanged) < UrlCache.LIMIT:
            unchanged.update(distinct)
        distinct = set()
    for body in distinct:
        found: list[Finding] = []
        if _may_hold_secret(body[3:]) and rewrite_url_rest("https", body[3:], found) != body[3:]:
            changing = True
            break
        if len(unchanged) < UrlCache.LIMIT:
            unchanged.add(body)
    if not changing:
        return text
    out: list[str] = []
    last = 0
    for m in _URL_BODY.finditer(text):
        if m.group() in unchanged:
            continue
        rest = m.group()[3:]
        scheme = _scheme_before(text, m.start())
        cached = rewrites.get(scheme + rest)
        if cached is None:
            findings: list[Finding] = []
            new_rest = rest
            if _may_hold_secret(rest):
                new_rest = rewrite_url_rest(scheme, rest, findings)
                new_rest = _MARK.sub(lambda mk: placeholder(mk.group(1), mk.group(2)), new_rest)
                if learn is not None:
                    for kind, secret in findings:
                        learn(secret, kind)
                if learn_userinfo is not None and "@" in rest:
                    for user, password in url_userinfo("://" + rest):
                        learn_userinfo(user, password)
            kinds = tuple(k for k, _ in findings) or (("url_credential",) if new_rest != rest else ())
            cached = (new_rest, kinds)
            if len(rewrites) < UrlCache.LIMIT:
                rewrites[scheme + rest] = cached
        new_rest, kinds = cached
        if new_rest == rest:
            continue
        out.append(text[last:m.start() + 3])
        out.append(new_rest)
        last = m.end()
        for kind in kinds:
            record(kind, m.start())
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)
