"""Preview: any layout or campaign of a project as chosen customers will get it.

A :class:`Preview` serves the preview page (:mod:`mailer.web.preview`),
``mailer lint`` and scripts. It prepares campaigns with
:func:`mailer.prepared.prepare`, the code ``mailer run`` and the workers use,
from the project's files as they are now: each answer says which
:meth:`~Preview.version` of the files it was made from, and a campaign is
prepared again only when a file it reads has changed. Each rendering comes
with the findings of :mod:`mailer.lint`: the rendered HTML, the layout's
MJML, its translations and, given caniemail's data, what the target mail
clients do not support.

>>> from mailer.project import Project
>>> from pathlib import Path
>>> root = Path(__file__).resolve().parent.parent
>>> preview = Preview(Project.defaults(root), customers=root / "fixtures/customers.csv",
...                   feed=root / "fixtures/products.xml")                          # doctest: +SKIP
>>> rendering = preview.render(customer="C0009", campaign="fixtures/campaign.toml")  # doctest: +SKIP
>>> rendering.subject, [f.rule for f in rendering.findings]                        # doctest: +SKIP
('Nyt til dig, Freja', [])
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from mailer.campaign import Campaign
from mailer.content.catalogs import Catalogs
from mailer.content.compose import GMAIL_CLIP_BYTES, ComposedMessage
from mailer.errors import ConfigError, LayoutError, MailerError
from mailer.inputs.customers import Customer
from mailer.lint import (
    DEFAULT_CLIENTS,
    CanIEmail,
    ClientTarget,
    Finding,
    lint_html,
    lint_mjml,
    load_caniemail,
    parse_clients,
    untranslated,
    untranslated_campaign,
)
from mailer.personalise.choices import Choice
from mailer.prepared import PreparedCampaign, prepare
from mailer.project import Project
from mailer.report import Report
from mailer.tokens import Signer, load_signing_key

__all__ = ["CUSTOMER_LIMIT", "Preview", "PreviewError", "Rendering"]

CUSTOMER_LIMIT = 200_000
"""Customers a preview keeps in memory for its picker (the first rows of the file)."""

_TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.S)
_URL_ATTRIBUTE = re.compile(r"""\b(src|href)\s*=\s*["']([^"'<>]+)""", re.I)
_INCLUDE = re.compile(r"""\b(?:include|import|extends|from)\s+["']([^"']+)["']""")


class PreviewError(MailerError):
    """What was asked of a preview does not exist or makes no sense.

    ``status`` is the HTTP status the preview page answers it with (400 or 404).
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Rendering:
    """One customer's message as a campaign would send it, and what is wrong with it."""

    campaign: str | None
    layout: str
    customer: Customer
    """The customer as rendered: in the locale and currency asked for."""
    segment: str | None
    message: ComposedMessage
    preheader: str
    findings: tuple[Finding, ...]
    products: Mapping[str, list[dict[str, str]]]
    version: str
    elapsed_ms: float
    headers: tuple[tuple[str, str], ...] = field(default=())
    own: Customer | None = None
    """The customer as the customers file has them (``None``: as rendered)."""

    @property
    def size(self) -> int:
        """Bytes of the HTML part (Gmail clips past about 102 KB)."""
        return len(self.message.html.encode("utf-8"))

    def to_json(self) -> dict[str, Any]:
        """The answer of ``GET /api/render``."""
        return {
            "campaign": self.campaign,
            "layout": self.layout,
            "customer": customer_json(self.own or self.customer, self.segment),
            "locale": self.customer.locale,
            "currency": self.customer.currency,
            "subject": self.message.subject,
            "preheader": self.preheader,
            "html": self.message.html,
            "text": self.message.text,
            "headers": [list(pair) for pair in self.headers],
            "raw": self.message.data.decode("utf-8", "replace"),
            "size": self.size,
            "clip_limit": GMAIL_CLIP_BYTES,
            "warnings": [finding.to_json() for finding in self.findings],
            "products": self.products,
            "version": self.version,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def customer_json(customer: Customer, segment: str | None = None) -> dict[str, Any]:
    """A customer as the preview page shows it."""
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "locale": customer.locale,
        "currency": customer.currency,
        "country": customer.locale.partition("_")[2],
        "segment": segment,
    }


def layout_error_json(err: LayoutError, version: str, *, path: str | None = None) -> dict[str, Any]:
    """The answer for a layout that does not compile or render (HTTP 422);
    ``path`` names the file as the page should show it (default: the error's)."""
    return {"error": "layout", "file": path or err.path, "line": err.line, "message": err.reason, "version": version}


class _Prepared:
    """A prepared campaign and the file versions it was made from."""

    def __init__(self, prepared: PreparedCampaign, version: str, data_version: str) -> None:
        self.prepared = prepared
        self.version = version
        self.data_version = data_version


class Preview:
    """A project's campaigns and layouts, rendered on demand and kept current.

    ``customers`` is the file the picker reads (its first
    :data:`CUSTOMER_LIMIT` rows); ``feed``, ``purchases`` and ``rates`` are
    what the campaigns need (``purchases`` also gives every customer an RFM
    segment for the quick picks). ``caniemail`` is caniemail.com's data file
    for client support findings, ``clients`` the clients checked (default
    :data:`~mailer.lint.DEFAULT_CLIENTS`). Safe to call from several threads.
    """

    def __init__(
        self,
        project: Project,
        *,
        customers: str | Path | None = None,
        feed: str | Path | None = None,
        purchases: str | Path | None = None,
        rates: str | Path | None = None,
        caniemail: str | Path | None = None,
        clients: Sequence[str] | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.project = project
        self.customers_file = Path(customers) if customers is not None else None
        self.feed = Path(feed) if feed is not None else None
        self.purchases = Path(purchases) if purchases is not None else None
        self.rates = Path(rates) if rates is not None else None
        self.support: CanIEmail | None = load_caniemail(caniemail) if caniemail is not None else None
        self.clients: tuple[ClientTarget, ...] = parse_clients(clients or DEFAULT_CLIENTS, self.support)
        self.signer = signer or Signer(load_signing_key(path=project.secret_file))
        self._lock = threading.RLock()
        self._prepared: dict[tuple[str | None, str | None], _Prepared] = {}
        self._customers: list[Customer] = []
        self._by_id: dict[str, Customer] = {}
        self._segments: dict[str, str] = {}
        self._customers_version: str | None = None
        self._catalogs: tuple[str, Catalogs] | None = None
        self.customers_truncated = False
        if self.customers_file is not None and not self.customers_file.is_file():
            raise ConfigError(f"{self.customers_file}: no such customers file")
        if self.feed is not None and not self.feed.is_file():
            raise ConfigError(f"{self.feed}: no such feed file")

    # -- what changed ---------------------------------------------------------------------------

    def _watched(self) -> Iterator[Path]:
        for folder in (self.project.layouts, self.project.locales, self.project.campaigns):
            if folder.is_dir():
                for dirpath, dirnames, filenames in os.walk(folder):
                    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                    for name in sorted(filenames):
                        if not name.startswith("."):
                            yield Path(dirpath, name)
        yield from self._data_files()

    def _data_files(self) -> Iterator[Path]:
        for path in (self.customers_file, self.feed, self.purchases, self.rates, self.project.config_file):
            if path is not None:
                yield path

    @staticmethod
    def _fingerprint(paths: Iterable[Path]) -> str:
        digest = hashlib.sha1()
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode("utf-8", "surrogateescape"))
        return digest.hexdigest()[:16]

    def version(self) -> str:
        """A short name for the current state of every file a preview reads:
        it changes when a layout, catalog, campaign or input file is saved."""
        return self._fingerprint(self._watched())

    def wait_for_change(self, since: str, *, timeout: float = 25.0, interval: float = 0.2) -> str:
        """The version once it differs from ``since``, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.version()
            if current != since or time.monotonic() >= deadline:
                return current
            time.sleep(interval)

    # -- what the project has -------------------------------------------------------------------

    def layouts(self) -> list[str]:
        """The project's layouts (partials excluded)."""
        return sorted(p.stem for p in self.project.layouts.glob("*.mjml"))

    def campaign_files(self) -> list[Path]:
        """Every campaign file under the project's campaigns folder."""
        folder = self.project.campaigns
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.rglob("*.toml")):
            if any(part.startswith(".") for part in path.relative_to(folder).parts):
                continue
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if isinstance(data.get("id"), str) and isinstance(data.get("layout"), str):
                found.append(path)
        return found

    def relative(self, path: Path) -> str:
        """``path`` relative to the project's root where it lies inside it."""
        try:
            return str(path.resolve().relative_to(self.project.root.resolve()))
        except ValueError:
            return str(path)

    def campaign_path(self, name: str) -> Path:
        """The campaign file a request names (a path relative to the project, or a campaign name)."""
        candidate = Path(name)
        if not candidate.is_absolute():
            candidate = self.project.root / candidate
        if candidate.is_file():
            return candidate
        try:
            return self.project.campaign_path(name)
        except ConfigError as err:
            raise PreviewError(str(err), status=404) from None

    def summary(self) -> dict[str, Any]:
        """What ``GET /api/project`` answers: campaigns, layouts, locales, currencies, clients."""
        campaigns = []
        for path in self.campaign_files():
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            subject = data.get("subject")
            title = subject.get("en", next(iter(subject.values()), "")) if isinstance(subject, dict) else subject
            title = _TEMPLATE_TAG.sub("", str(title or "")).strip(" ,")
            campaigns.append({"id": data["id"], "file": self.relative(path), "layout": data["layout"],
                              "title": str(title or data["id"])})  # fmt: skip
        customers = self.customers()
        return {
            "project": str(self.project.root),
            "campaigns": campaigns,
            "layouts": self.layouts(),
            "locales": sorted({c.locale for c in customers} | set(_catalog_locales(self.project.locales))),
            "currencies": sorted({c.currency for c in customers}),
            "clients": [str(target) for target in self.clients],
            "client_data": self.support is not None,
            "version": self.version(),
            "customers_file": self.relative(self.customers_file) if self.customers_file else None,
            "customers_truncated": self.customers_truncated,
            "feed": self.relative(self.feed) if self.feed else None,
        }

    # -- customers ------------------------------------------------------------------------------

    def customers(self) -> list[Customer]:
        """The customers of the picker (reread when the file changes)."""
        if self.customers_file is None:
            return []
        with self._lock:
            version = self._fingerprint([self.customers_file])
            if version != self._customers_version:
                from mailer.inputs.customers import iter_customers

                loaded: list[Customer] = []
                self.customers_truncated = False
                for customer in iter_customers(self.customers_file, report=Report()):
                    if len(loaded) == CUSTOMER_LIMIT:
                        self.customers_truncated = True
                        break
                    loaded.append(customer)
                self._customers = loaded
                self._by_id = {c.id: c for c in loaded}
                self._segments = self._segment_customers(loaded)
                self._customers_version = version
            return self._customers

    def customer(self, customer_id: str) -> Customer:
        """The customer with that id, or :class:`PreviewError` (404)."""
        self.customers()
        found = self._by_id.get(customer_id)
        if found is None:
            where = f"in {self.customers_file}" if self.customers_file else "(no customers file was given)"
            raise PreviewError(f"no customer {customer_id!r} {where}", status=404)
        return found

    def segment_of(self, customer_id: str) -> str | None:
        """The customer's RFM segment (from ``purchases``), when known."""
        self.customers()
        return self._segments.get(customer_id)

    def search(self, query: str = "", *, limit: int = 20) -> tuple[list[Customer], int]:
        """Customers whose id, name or e-mail address contains ``query`` (any case):
        the first ``limit`` and how many there are in all."""
        needle = query.casefold().strip()
        hits = [c for c in self.customers()
                if not needle or needle in c.id.casefold() or needle in c.name.casefold()
                or needle in c.email.casefold()]  # fmt: skip
        return hits[: max(0, limit)], len(hits)

    def _segment_customers(self, customers: Sequence[Customer]) -> dict[str, str]:
        if self.purchases is None or not customers:
            return {}
        from mailer.personalise.choices import personalisation_for
        from mailer.personalise.strategies import SelectionConfig

        campaign = Campaign(id="preview-segments", layout="newsletter", sender="Shop <shop@shop.invalid>",
                            subject="", links={"unsubscribe": "https://shop.invalid/{token}",
                                               "unsubscribe_mailto": "u@shop.invalid"})  # fmt: skip
        config = dataclasses.replace(SelectionConfig(), purchases=self.purchases)
        catalogue: dict[str, Any] = {}
        if self.feed is not None:
            from mailer.inputs.feeds import iter_products

            catalogue = {p.id: p for p in iter_products(self.feed, report=Report())}
        personal = personalisation_for(campaign, config, catalogue, {}, report=Report())
        if personal.segments is None:
            return {}
        names = personal.segments.segment_of([c.id for c in customers])
        return {c.id: str(name) for c, name in zip(customers, names)}

    def picks(self, *, campaign: str | None = None, layout: str | None = None) -> dict[str, Any]:
        """Quick picks: a customer per segment, per market, and per programme step."""
        customers = self.customers()
        segments: dict[str, Customer] = {}
        for customer in customers:
            segment = self._segments.get(customer.id)
            if segment is not None and segment not in segments:
                segments[segment] = customer
        markets: dict[tuple[str, str], Customer] = {}
        for customer in customers:
            markets.setdefault((customer.locale, customer.currency), customer)
        return {
            "segments": [{"label": name, "customer": customer_json(c, name)} for name, c in segments.items()],
            "markets": [{"label": f"{locale} · {currency}", "customer": customer_json(c, self._segments.get(c.id))}
                        for (locale, currency), c in markets.items()],  # fmt: skip
            "steps": self._steps(segments),
        }

    def _steps(self, segments: Mapping[str, Customer]) -> list[dict[str, Any]]:
        from mailer.personalise.programmes import LAPSED, REACTIVATION, WELCOME

        by_name = {path.stem: path for path in self.campaign_files()}
        targets = {WELCOME.name: ("new", "prospect"), LAPSED.name: ("lapsed",), REACTIVATION.name: ("lapsed",)}
        steps = []
        for programme in (WELCOME, LAPSED, REACTIVATION):
            for step in programme.steps:
                path = by_name.get(step.name)
                if path is None:
                    continue
                customers = self._customers
                customer = next((segments[s] for s in targets.get(programme.name, ()) if s in segments),
                                customers[0] if customers and not segments else None)  # fmt: skip
                steps.append({
                    "label": f"{programme.name}: {step.name} (day {step.day})",
                    "campaign": self.relative(path),
                    "customer": customer_json(customer, self._segments.get(customer.id)) if customer else None,
                })  # fmt: skip
        return steps

    # -- rendering ------------------------------------------------------------------------------

    def prepared(
        self, campaign: str | None = None, layout: str | None = None, *, version: str | None = None
    ) -> PreparedCampaign:
        """The campaign (or a placeholder campaign for ``layout``) prepared from
        the files as they are now (``version``, when the caller has just read it);
        reused until one of them changes."""
        if campaign is None and layout is None:
            raise PreviewError("name a campaign or a layout")
        if layout is not None and layout not in self.layouts():
            raise PreviewError(f"no layout {layout!r} in {self.project.layouts} (have: "
                               f"{', '.join(self.layouts())})", status=404)  # fmt: skip
        campaign_file = self.campaign_path(campaign) if campaign is not None else None
        key = (str(campaign_file) if campaign_file else None, layout)
        with self._lock:
            version = version or self.version()
            cached = self._prepared.get(key)
            if cached is not None and cached.version == version:
                return cached.prepared
            data_version = self._fingerprint([*self._data_files(), *([campaign_file] if campaign_file else [])])
            report = Report()
            rates = self.rates if campaign_file is not None else self.rates or self._campaign_rates()
            prepared = prepare(
                campaign_file, feed=self.feed, layouts_dir=self.project.layouts, locales_dir=self.project.locales,
                signer=self.signer, layout=layout, purchases=self.purchases, rates=rates,
                brand=self.project.brand, key_file=self.project.secret_file, report=report,
            )  # fmt: skip
            old = cached.prepared if cached is not None else None
            if (old is not None and cached is not None and cached.data_version == data_version
                    and old.personalisation is not None and old.layout_slots == prepared.layout_slots):
                prepared.personalisation = old.personalisation  # only layouts or catalogs changed
            else:
                prepared.personalise(report=report, customers=self.customers)
            if old is not None:
                old.close()
            self._prepared[key] = _Prepared(prepared, version, data_version)
            return prepared

    def _campaign_rates(self) -> Path | None:
        """The rates table a layout alone converts prices with: the first the
        project's campaigns name (``--rates`` wins)."""
        for path in self.campaign_files():
            named = tomllib.loads(path.read_text(encoding="utf-8")).get("rates")
            if isinstance(named, str) and (path.parent / named).is_file():
                return path.parent / named
        return None

    def render(
        self,
        *,
        customer: str,
        campaign: str | None = None,
        layout: str | None = None,
        locale: str | None = None,
        currency: str | None = None,
    ) -> Rendering:
        """``customer``'s message for a campaign or a layout, in their locale and
        currency unless ``locale``/``currency`` say otherwise.

        A layout that does not compile or render raises its
        :class:`~mailer.errors.LayoutError` (naming the file and line); an
        unknown customer, campaign or layout a :class:`PreviewError`.
        """
        own = self.customer(customer)
        rendering = self.render_customer(self._with_market(own, locale, currency), campaign=campaign, layout=layout)
        return dataclasses.replace(rendering, own=own)

    def render_customer(self, person: Customer, *, campaign: str | None = None, layout: str | None = None) -> Rendering:
        """:meth:`render` for a customer who need not be in the customers file."""
        started = time.perf_counter()
        with self._lock:
            version = self.version()
            own_layout = None
            if campaign is not None and layout is not None:
                prepared = self.prepared(campaign, None, version=version)
                own_layout = layout if layout != prepared.campaign.layout else None
                if own_layout is not None:
                    prepared = self.prepared(campaign, layout, version=version)
            else:
                prepared = self.prepared(campaign, layout, version=version)
            choice = next(prepared.choices([person]))
            findings: list[Finding] = []
            if not choice.kept:
                findings.append(Finding("audience", "this customer is outside the campaign's audience: "
                                                    "the campaign would not send them this email"))  # fmt: skip
                choice = dataclasses.replace(choice, kept=True)
            empty = prepared.empty_groups(choice)
            if empty:
                findings.append(Finding("empty-slots", f"no product for slot group(s) {', '.join(empty)}: "
                                                       "the campaign would leave this customer out", "error"))  # fmt: skip
            message = prepared.compose(choice, at=prepared.send_instant())
            layout_name = choice.layout or prepared.campaign.layout
            findings.extend(Finding("composer", text) for text in message.warnings
                            if "Gmail" not in text)  # fmt: skip
            headers = _headers(message.data)
            findings.extend(self._lint(prepared, layout_name, person, message, headers, version))
            findings = [f for f in findings if f.rule not in self.project.lint_ignore]
            products = self._products(prepared, choice, person)
        return Rendering(
            campaign=self.relative(self.campaign_path(campaign)) if campaign else None,
            layout=layout_name,
            customer=person,
            segment=choice.segment or self._segments.get(person.id),
            message=message,
            preheader=prepared.campaign.text("preheader", _chain(person.locale)) if prepared.campaign.preheader else "",
            findings=tuple(findings),
            products=products,
            version=version,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            headers=headers,
        )

    def render_json(self, **request: Any) -> tuple[int, dict[str, Any]]:
        """:meth:`render` as the HTTP API answers it: a status and a JSON object."""
        try:
            return 200, self.render(**request).to_json()
        except LayoutError as err:
            return 422, layout_error_json(err, self.version(), path=self.relative(Path(err.path)) if err.path else None)
        except PreviewError as err:
            return err.status, {"error": "not_found" if err.status == 404 else "bad_request", "message": str(err)}
        except MailerError as err:
            path, line = getattr(err, "path", None), getattr(err, "line", None)
            return 422, {"error": "render", "file": path, "line": line, "message": str(err), "version": self.version()}

    def sample_customers(self, count: int) -> list[Customer]:
        """Up to ``count`` customers of different segments (else markets), or,
        without a customers file, one made-up customer."""
        customers = self.customers()
        if not customers:
            return [Customer(id="sample", email="alex.sample@example.invalid", name="Alex Sample",
                             locale="en_US", currency="USD", timezone="UTC")]  # fmt: skip
        chosen: dict[object, Customer] = {}
        for customer in customers:
            key = self._segments.get(customer.id) or (customer.locale, customer.currency)
            chosen.setdefault(key, customer)
        picked = list(chosen.values())[:count]
        return picked or customers[:count]

    def locales(self) -> list[str]:
        """A locale per language the project has a catalog for (``da`` → ``da_DK``)."""
        return _catalog_locales(self.project.locales)

    def with_market(self, customer: Customer, locale: str | None = None, currency: str | None = None) -> Customer:
        """``customer`` in another locale or currency (checked names)."""
        return self._with_market(customer, locale, currency)

    def _with_market(self, customer: Customer, locale: str | None, currency: str | None) -> Customer:
        changes: dict[str, str] = {}
        if locale:
            from babel import Locale, UnknownLocaleError

            try:
                changes["locale"] = str(Locale.parse(locale.replace("-", "_")))
            except (ValueError, UnknownLocaleError):
                raise PreviewError(f"unknown locale {locale!r} (expected e.g. da_DK)") from None
        if currency:
            from babel.numbers import is_currency

            code = currency.strip().upper()
            if not is_currency(code):
                raise PreviewError(f"unknown currency {currency!r} (expected an ISO 4217 code such as DKK)")
            changes["currency"] = code
        return dataclasses.replace(customer, **changes) if changes else customer

    def _products(
        self, prepared: PreparedCampaign, choice: Choice, customer: Customer
    ) -> dict[str, list[dict[str, str]]]:
        """Each slot group's products, their price as the email shows it, and why each was chosen."""
        from mailer.content.views import product_fields

        why = prepared.preview(choice)
        l10n = prepared.composer(choice).localisers.get(customer.locale, customer.currency, customer.timezone)
        at = prepared.send_instant()
        shown: dict[str, list[dict[str, str]]] = {}
        for group, products in prepared.products(choice).items():
            reasons = {entry.get("id"): entry.get("reason", "") for entry in why.get(group, [])}
            shown[group] = [{"id": p.id, "title": p.title, "price": product_fields(p, l10n, at)["price"],
                             "reason": reasons.get(p.id, "")} for p in products]  # fmt: skip
        return shown

    def _lint(
        self,
        prepared: PreparedCampaign,
        layout: str,
        customer: Customer,
        message: ComposedMessage,
        headers: Sequence[tuple[str, str]],
        version: str,
    ) -> list[Finding]:
        sources = self.layout_sources(layout)
        findings: list[Finding] = []
        for path, text in sources.items():
            findings.extend(lint_mjml(text, path=path))
        listed = next((value for name, value in headers if name.lower() == "list-unsubscribe"), "")
        unsubscribe = [url for url in _angle_urls(listed) if url.startswith("http")]
        in_html = lint_html(message.html, unsubscribe_urls=unsubscribe, size_limit=GMAIL_CLIP_BYTES,
                            support=self.support, clients=self.clients, ignore_features=self.project.lint_ignore)
        written = dict(sources)  # where an element's URL may have been written
        campaign_file = prepared.campaign.source
        if campaign_file is not None and campaign_file.is_file():
            written[self.relative(campaign_file)] = campaign_file.read_text(encoding="utf-8")
        in_sources = " ".join(f.element or "" for f in findings if f.rule == "image-alt")
        for finding in in_html:
            url = _URL_ATTRIBUTE.search(finding.element or "")
            if finding.rule == "image-alt" and url and url.group(2) in in_sources:
                continue  # the layout's <mj-image> without alt was reported at its own line
            findings.append(_traced(finding, written))
        language = customer.locale.partition("_")[0]
        catalogs = self._catalogs_at(version)
        findings.extend(untranslated(sources, catalogs.translations(customer.locale), language,
                                     default_language=prepared.campaign.default_language))  # fmt: skip
        tables = {"subject": prepared.campaign.subject, "preheader": prepared.campaign.preheader,
                  **{f"content.{k}": v for k, v in prepared.campaign.content.items()}}  # fmt: skip
        findings.extend(untranslated_campaign(
            {name: value for name, value in tables.items() if isinstance(value, Mapping)}, language,
            default_language=prepared.campaign.default_language,
        ))  # fmt: skip
        return findings

    def _catalogs_at(self, version: str) -> Catalogs:
        """The project's catalogs, read again only when a file changed."""
        if self._catalogs is None or self._catalogs[0] != version:
            self._catalogs = (version, Catalogs(self.project.locales))
        return self._catalogs[1]

    def layout_sources(self, layout: str) -> dict[str, str]:
        """The layout's file and the partials it includes, by path relative to the project."""
        root = self.project.layouts
        found: dict[str, str] = {}
        pending = [root / f"{layout}.mjml"]
        while pending:
            path = pending.pop()
            key = self.relative(path)
            if key in found or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            found[key] = text
            pending.extend(root / name for name in _INCLUDE.findall(text))
        return found

    # -- compare and send test ------------------------------------------------------------------

    def compare(self, customers: Sequence[str], **request: Any) -> list[tuple[int, dict[str, Any]]]:
        """:meth:`render_json` for two to four customers."""
        if not 1 <= len(customers) <= 4:
            raise PreviewError(f"compare takes one to four customers, got {len(customers)}")
        return [self.render_json(customer=customer_id, **request) for customer_id in customers]

    def send_test(
        self,
        *,
        to: Sequence[str],
        customer: str,
        transport: str,
        campaign: str | None = None,
        layout: str | None = None,
        locale: str | None = None,
        currency: str | None = None,
    ) -> list[str]:
        """Send ``customer``'s message to the addresses ``to`` through
        ``transport``, addressed to them instead of the customer. Nothing is
        queued: the campaign's send log and frequency caps never see it."""
        import asyncio

        from email_validator import EmailNotValidError, validate_email

        from mailer.transports import Envelope, open_transport

        addresses = []
        for address in to:
            try:
                addresses.append(validate_email(address.strip(), check_deliverability=False,
                                                test_environment=True).normalized)
            except EmailNotValidError as err:
                raise PreviewError(f"{address!r} is not an e-mail address: {err}") from None
        if not addresses:
            raise PreviewError("no address to send the test to (give one, or set seeds in mailer.toml)")
        person = self._with_market(self.customer(customer), locale, currency)
        sent = []
        for address in addresses:
            rendering = self.render_customer(dataclasses.replace(person, email=address), campaign=campaign,
                                             layout=layout)
            sender = self.prepared(campaign, None if campaign else layout).sender
            envelope = Envelope(sender, (address,), rendering.message.data, rendering.message.message_id)

            async def deliver() -> Mapping[str, Any]:
                channel = open_transport(transport)
                try:
                    return await channel.send(envelope)
                finally:
                    await channel.aclose()

            replies = asyncio.run(deliver())
            reply = replies.get(address)
            if reply is None or not reply.accepted:
                raise PreviewError(f"the test to {address} was not accepted: {reply}")
            sent.append(address)
        return sent

    def close(self) -> None:
        """Remove the prepared campaigns' working copies."""
        with self._lock:
            for cached in self._prepared.values():
                cached.prepared.close()
            self._prepared.clear()


def _traced(finding: Finding, sources: Mapping[str, str]) -> Finding:
    """A finding about the rendered HTML pointed at the source file and line
    that wrote its element's URL, where one of ``sources`` holds it literally."""
    if finding.path is not None or not finding.element:
        return finding
    match = _URL_ATTRIBUTE.search(finding.element)
    if match is None or len(match.group(2)) < 8:
        return finding
    import html

    url = html.unescape(match.group(2))
    for path, text in sources.items():
        at = text.find(url)
        if at >= 0:
            where = f" (rendered HTML line {finding.line})" if finding.line else ""
            return dataclasses.replace(finding, path=path, line=text.count("\n", 0, at) + 1,
                                       message=finding.message + where)  # fmt: skip
    return finding


def _chain(locale: str) -> tuple[str, ...]:
    from mailer.content.catalogs import fallback_chain

    return fallback_chain(locale)


def _catalog_locales(locales: Path) -> list[str]:
    """A likely locale per catalog language, for the locale picker.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = Path(folder, "da/LC_MESSAGES").mkdir(parents=True)
    ...     _ = Path(folder, "da/LC_MESSAGES/messages.mo").write_bytes(b"")
    ...     _catalog_locales(Path(folder))
    ['da_DK']
    """
    from babel import Locale, UnknownLocaleError
    from babel.core import get_global

    likely = get_global("likely_subtags")
    found = []
    for path in sorted(locales.glob("*/LC_MESSAGES/*.mo")):
        language = path.parent.parent.name
        try:
            locale = Locale.parse(likely.get(language, language))
        except (ValueError, UnknownLocaleError):
            continue
        found.append(f"{locale.language}_{locale.territory}" if locale.territory else locale.language)
    return found


def _headers(data: bytes) -> tuple[tuple[str, str], ...]:
    """The message's header fields, decoded, in order."""
    head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    parsed = message_from_bytes(head, policy=policy.default)
    return tuple((name, str(value)) for name, value in parsed.items())


def _angle_urls(value: str) -> list[str]:
    """The ``<…>`` URLs of a List-Unsubscribe field.

    >>> _angle_urls("<https://s.test/u/1>, <mailto:u@s.test>")
    ['https://s.test/u/1', 'mailto:u@s.test']
    """
    return re.findall(r"<([^<>]+)>", value)
