"""A generated shop: catalogue, customers and purchase histories with known structure.

For benchmarks (a million customers, ten thousand products) and for the
small committed sample in ``fixtures/generated/``. Everything is drawn from
one seed, vectorised, so a million customers and five million order lines
take seconds.

The shop sells fashion, home, beauty, kids, baby and maternity lines under
~100 brands at four price levels (value to luxury); apparel comes in sizes
(one ``item_group_id`` per style); about 650 products a week are new.
Customers have a declared gender (or none), a locale, a price level and one
to three favourite top-level categories; a fifth have bought nothing yet.
Each order line picks, among a few random products of a favourite category,
the one that best fits the customer's price level and the product's latent
popularity; some customers mostly buy on discount. Run as a script to write
a sample::

    python -m tests.support.synthetic --products 300 --customers 200 --out fixtures/generated
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from mailer.content.money import Money
from mailer.inputs.products import Product

__all__ = ["SyntheticShop", "generate", "write_sample"]

#: top category → (gender, age group, median price, {sub-category: leaves}).
TAXONOMY: dict[str, tuple[str | None, str, float, dict[str, tuple[str, ...]]]] = {
    "Women": ("female", "adult", 45.0, {
        "Dresses": ("Midi Dresses", "Maxi Dresses", "Evening Dresses", "Shirt Dresses"),
        "Tops": ("T-Shirts", "Blouses", "Camisoles"), "Knitwear": ("Jumpers", "Cardigans"),
        "Jeans": ("Skinny", "Straight", "Wide Leg"), "Coats": ("Wool Coats", "Raincoats"),
        "Shoes": ("Boots", "Trainers", "Heels")}),
    "Men": ("male", "adult", 50.0, {
        "Shirts": ("Casual Shirts", "Formal Shirts", "Overshirts"), "Jeans": ("Slim", "Straight"),
        "Coats & Jackets": ("Parkas", "Blazers"), "Shoes": ("Boots", "Trainers"), "Knitwear": ("Jumpers",)}),
    "Kids": (None, "kids", 20.0, {
        "Clothing": ("Coats", "T-Shirts", "Jeans"), "Toys": ("Arts & Crafts", "Pretend Play", "Puzzles"),
        "Shoes": ("Trainers", "Wellies")}),
    "Baby": (None, "infant", 15.0, {
        "Clothing": ("Bodysuits", "Sleepsuits"), "Nursery": ("Blankets", "Mobiles"), "Toys": ("Early Learning",)}),
    "Maternity": ("female", "adult", 40.0, {"Dresses": ("Midi Dresses",), "Jeans": ("Over-Bump",)}),
    "Home": (None, "adult", 30.0, {
        "Kitchen": ("Cookware", "Tableware", "Utensils", "Coffee & Tea"), "Bedding": ("Duvet Covers", "Pillows"),
        "Decor": ("Candles", "Vases", "Cushions"), "Lighting": ("Table Lamps", "Floor Lamps")}),
    "Beauty": (None, "adult", 22.0, {
        "Skincare": ("Serums", "Moisturisers", "Cleansers"), "Make-Up": ("Lips", "Eyes", "Face"),
        "Fragrance": ("Eau de Parfum", "Eau de Toilette"), "Bath & Body": ("Hand Care", "Body Wash")}),
    "Accessories": (None, "adult", 35.0, {
        "Bags": ("Totes", "Handbags", "Holdalls"), "Jewellery": ("Earrings", "Necklaces"),
        "Scarves": ("Scarves",), "Watches": ("Watches",)}),
    "Sport": (None, "adult", 35.0, {
        "Running": ("Shoes", "Clothing"), "Yoga": ("Mats", "Clothing"), "Cycling": ("Helmets", "Clothing")}),
}  # fmt: skip
_SIZED = {"Women", "Men", "Kids", "Baby", "Maternity"}
_SIZES = {"Women": ("XS", "S", "M", "L", "XL"), "Men": ("S", "M", "L", "XL"), "Kids": ("4-5Y", "6-7Y", "8-9Y"),
          "Baby": ("0-3M", "3-6M", "6-12M"), "Maternity": ("S", "M", "L")}  # fmt: skip
#: Brand price levels: value, mid, premium, luxury.
LEVELS = (0.5, 1.0, 2.2, 6.0)
MARKETS = (("en_GB", 0.35), ("en_US", 0.2), ("de_DE", 0.12), ("fr_FR", 0.1), ("sv_SE", 0.05),
           ("da_DK", 0.05), ("sv_FI", 0.03), ("de_AT", 0.04), ("fr_CH", 0.03), ("ja_JP", 0.03))  # fmt: skip
_FAVOURITES = {  # weights of top categories as favourites, by declared gender
    "female": {"Women": 0.34, "Beauty": 0.16, "Home": 0.14, "Accessories": 0.1, "Kids": 0.08, "Sport": 0.07,
               "Baby": 0.05, "Maternity": 0.03, "Men": 0.03},
    "male": {"Men": 0.4, "Sport": 0.16, "Home": 0.14, "Accessories": 0.09, "Kids": 0.08, "Beauty": 0.05,
             "Women": 0.05, "Baby": 0.03},
    "": {"Home": 0.2, "Women": 0.18, "Men": 0.16, "Sport": 0.12, "Beauty": 0.12, "Accessories": 0.1, "Kids": 0.08,
         "Baby": 0.04},
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class SyntheticShop:
    """A generated shop. Purchases are per-row arrays: customer row, product index, day number,
    quantity and unit price paid (GBP)."""

    products: list[Product]
    added: dict[str, date]
    customer_ids: np.ndarray
    genders: np.ndarray
    markets: np.ndarray
    purchase_customer: np.ndarray
    purchase_product: np.ndarray
    purchase_day: np.ndarray
    purchase_quantity: np.ndarray
    purchase_price: np.ndarray
    today: date


def _catalogue(n: int, rng: np.random.Generator, today: date) -> tuple[list[Product], dict[str, date]]:
    tops = list(TAXONOMY)
    brands = {top: [(f"{top[:3]} Brand {i + 1}", LEVELS[i % 4]) for i in range(12)] for top in tops}
    leaves = [(top, sub, leaf) for top in tops for sub, ls in TAXONOMY[top][3].items() for leaf in ls]
    leaf_weight = np.array([0.6 if top in ("Baby", "Maternity") else 1.0 for top, _, _ in leaves])
    products: list[Product] = []
    added: dict[str, date] = {}
    style = 0
    mean_age = max(n / 650 * 7, 14.0)
    while len(products) < n:
        style += 1
        top, sub, leaf = leaves[rng.choice(len(leaves), p=leaf_weight / leaf_weight.sum())]
        gender, age_group, median, _ = TAXONOMY[top]
        brand, level = brands[top][rng.integers(12)]
        price = median * level * float(np.exp(rng.normal(0, 0.3)))
        price = max(round(price) - 0.01, 0.99) if price > 5 else round(price, 2)
        sizes = _SIZES[top][: rng.integers(1, len(_SIZES[top]) + 1)] if top in _SIZED and rng.random() < 0.7 else (None,)
        day = today - timedelta(days=int(min(rng.exponential(mean_age), 720)))
        sale = rng.random() < 0.08
        for size in sizes:
            if len(products) >= n:
                break
            pid = f"S{style:06d}" + (f"-{size}" if size else "")
            products.append(Product(
                id=pid,
                title=f"{leaf} {style}" + (f" - {size}" if size else ""),
                price=Money(Decimal(f"{price:.2f}"), "GBP"),
                sale_price=Money(Decimal(f"{price * 0.8:.2f}"), "GBP") if sale else None,
                link=f"https://www.example-shop.test/p/{pid}",
                image_link=f"https://cdn.example-shop.test/img/{pid}.jpg",
                availability="in_stock" if rng.random() < 0.93 else "out_of_stock",
                brand=brand,
                category=(top, sub, leaf),
                item_group_id=f"S{style:06d}" if size else None,
                gender=gender or ("unisex" if top != "Baby" else None),
                age_group=age_group if top != "Baby" else ("newborn" if leaf in ("Bodysuits", "Sleepsuits") else "infant"),
                size=size,
            ))  # fmt: skip
            added[pid] = day
    return products, added


def generate(
    n_products: int = 10_000,
    n_customers: int = 100_000,
    *,
    seed: int = 1,
    today: date = date(2026, 11, 23),
    orders_per_customer: float = 4.0,
) -> SyntheticShop:
    """Generate a shop (vectorised over customers and order lines)."""
    rng = np.random.default_rng(seed)
    products, added = _catalogue(n_products, rng, today)
    tops = list(TAXONOMY)
    top_of = np.array([tops.index(p.category[0]) for p in products])
    price = np.array([float(p.price.amount) for p in products])
    pull = rng.lognormal(0.0, 1.2, len(products))
    by_top = [np.flatnonzero(top_of == t) for t in range(len(tops))]
    median_of_top = np.array([TAXONOMY[t][2] for t in tops])

    ids = np.char.add("C", np.char.zfill(np.arange(1, n_customers + 1).astype(str), 7))
    gender_draw = rng.random(n_customers)
    genders = np.where(gender_draw < 0.55, "female", np.where(gender_draw < 0.95, "male", ""))
    names, weights = zip(*MARKETS)
    markets = np.asarray(names)[rng.choice(len(names), n_customers, p=np.array(weights) / sum(weights))]
    level = rng.lognormal(0.0, 0.55, n_customers)
    discount_lover = rng.random(n_customers) < 0.3

    favourites = np.full((n_customers, 3), -1)
    n_fav = rng.integers(1, 4, n_customers)
    for g, table in _FAVOURITES.items():
        who = np.flatnonzero(genders == g)
        w = np.array([table.get(t, 0.0) for t in tops])
        for k in range(3):
            favourites[who, k] = rng.choice(len(tops), who.size, p=w / w.sum())
    favourites[np.arange(3)[None, :] >= n_fav[:, None]] = -1

    orders = rng.negative_binomial(1.2, 1.2 / (1.2 + orders_per_customer), n_customers)
    orders[rng.random(n_customers) < 0.2] = 0
    rows = np.repeat(np.arange(n_customers), orders)
    n_rows = rows.size
    pick = (rng.random(n_rows) * n_fav[rows]).astype(np.int64)
    top = favourites[rows, pick]
    wander = rng.random(n_rows) < 0.1
    top[wander] = rng.integers(0, len(tops), int(wander.sum()))

    product = np.empty(n_rows, dtype=np.int64)
    tries = 8
    for t in range(len(tops)):
        here = np.flatnonzero(top == t)
        if here.size == 0 or by_top[t].size == 0:
            continue
        choices = by_top[t][rng.integers(0, by_top[t].size, (here.size, tries))]
        target = np.log(median_of_top[t] * level[rows[here]])[:, None]
        fit = np.log(pull[choices]) - 2.0 * np.abs(np.log(price[choices]) - target) + rng.gumbel(size=choices.shape)
        product[here] = choices[np.arange(here.size), np.argmax(fit, axis=1)]

    today_day = (today - date(1970, 1, 1)).days
    day = today_day - np.minimum(rng.exponential(240.0, n_rows), 729).astype(np.int64) - 1
    quantity = np.where(rng.random(n_rows) < 0.9, 1, rng.integers(2, 4, n_rows))
    on_discount = rng.random(n_rows) < np.where(discount_lover[rows], 0.6, 0.08)
    paid = np.round(price[product] * np.where(on_discount, rng.uniform(0.6, 0.85, n_rows), 1.0), 2)
    return SyntheticShop(
        products=products,
        added=added,
        customer_ids=ids,
        genders=genders,
        markets=markets,
        purchase_customer=rows,
        purchase_product=product,
        purchase_day=day.astype(np.int32),
        purchase_quantity=quantity.astype(np.int32),
        purchase_price=paid,
        today=today,
    )


def write_sample(shop: SyntheticShop, out: Path) -> None:
    """Write the shop as files ``mailer`` reads: ``products.jsonl`` (a feed; ``custom_label_0`` is
    the day the product was added), ``customers.csv`` and ``purchases.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "products.jsonl").open("w", encoding="utf-8") as f:
        for p in shop.products:
            row = {
                "id": p.id, "title": p.title, "link": p.link, "image_link": p.image_link,
                "price": f"{p.price.amount} {p.price.currency}",
                "availability": p.availability.replace("_", " "), "brand": p.brand,
                "product_type": " > ".join(p.category), "item_group_id": p.item_group_id,
                "gender": p.gender, "age_group": p.age_group, "size": p.size,
                "custom_label_0": shop.added[p.id].isoformat(),
            }  # fmt: skip
            if p.sale_price is not None:
                row["sale_price"] = f"{p.sale_price.amount} {p.sale_price.currency}"
            f.write(json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False) + "\n")
    currency = {"en_GB": "GBP", "en_US": "USD", "ja_JP": "JPY", "sv_SE": "SEK", "da_DK": "DKK", "fr_CH": "CHF"}
    zone = {"en_GB": "Europe/London", "en_US": "America/New_York", "de_DE": "Europe/Berlin", "fr_FR": "Europe/Paris",
            "sv_SE": "Europe/Stockholm", "da_DK": "Europe/Copenhagen", "sv_FI": "Europe/Helsinki",
            "de_AT": "Europe/Vienna", "fr_CH": "Europe/Zurich", "ja_JP": "Asia/Tokyo"}  # fmt: skip
    with (out / "customers.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "email", "name", "locale", "currency", "timezone", "gender"])
        for cid, gender, market in zip(shop.customer_ids.tolist(), shop.genders.tolist(), shop.markets.tolist()):
            w.writerow([cid, f"{cid.lower()}@example.com", f"Customer {cid[1:].lstrip('0')}", market,
                        currency.get(market, "EUR"), zone[market], gender])  # fmt: skip
    epoch = date(1970, 1, 1)
    order = np.argsort(shop.purchase_day, kind="stable")
    with (out / "purchases.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "product_id", "purchased_at", "quantity", "unit_price", "currency",
                    "category", "brand"])  # fmt: skip
        for i in order.tolist():
            p = shop.products[int(shop.purchase_product[i])]
            when = epoch + timedelta(days=int(shop.purchase_day[i]))
            w.writerow([shop.customer_ids[shop.purchase_customer[i]], p.id, f"{when.isoformat()}T12:00:00Z",
                        int(shop.purchase_quantity[i]), f"{shop.purchase_price[i]:.2f}", "GBP",
                        " > ".join(p.category), p.brand])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a generated sample shop.")
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_sample(generate(args.products, args.customers, seed=args.seed), args.out)


if __name__ == "__main__":  # pragma: no cover
    main()
