"""One coroutine per subcommand: call the library, print for people or as JSON, return a code."""

from __future__ import annotations

import importlib
import sys
from decimal import Decimal

import smspartner_async as sp
from smspartner_async._cli._app import CLIError, Context, ExitCode
from smspartner_async._cli._output import emit_json, money, money_json, pairs, shown, table

__all__ = [
    "account",
    "add_credit",
    "create",
    "delete",
    "emulator",
    "list_subaccounts",
    "remove_credit",
]


async def account(ctx: Context) -> int:
    """``account``: who the key belongs to, and the main balance."""
    async with ctx.client() as client:
        info = await client.account()
    if ctx.json:
        emit_json(
            {
                "username": info.username,
                "firstname": info.firstname,
                "lastname": info.lastname,
                "balance": money_json(info.balance),
                "currency": info.currency,
                "sms_credits": info.sms_credits,
                "sms_to_send": info.sms_to_send,
            }
        )
        return ExitCode.OK
    name = " ".join(part for part in (info.firstname, info.lastname) if part)
    rows = [("user", info.username), ("name", name or "-")]
    rows.append(("balance", f"{money(info.balance)} {info.currency}"))
    if info.sms_credits is not None:
        rows.append(("SMS credits", str(info.sms_credits)))
    if info.sms_to_send is not None:
        rows.append(("SMS to send", str(info.sms_to_send)))
    print(pairs(rows))
    return ExitCode.OK


async def list_subaccounts(ctx: Context) -> int:
    """``subaccounts list``: every sub-account, in page order."""
    async with ctx.client() as client:
        subs = [sub async for sub in client.subaccounts.list(prefetch=ctx.args.prefetch)]
    if ctx.json:
        emit_json([_subaccount_json(sub) for sub in subs])
        return ExitCode.OK
    if not subs:
        print("no sub-accounts")
        return ExitCode.OK
    rows = [
        [
            str(sub.id),
            sub.token,
            sub.type,
            sub.email or "-",
            f"{money(sub.credits.balance)} {sub.credits.currency}",
            sub.created_at.strftime("%Y-%m-%d %H:%M") if sub.created_at else "-",
        ]
        for sub in subs
    ]
    headers = ["id", "token", "type", "email", "balance", "created"]
    print(table(headers, rows, right={0, 4}))
    totals: dict[str, Decimal] = {}
    for sub in subs:
        totals[sub.credits.currency] = totals.get(sub.credits.currency, Decimal(0)) + (
            sub.credits.balance
        )
    held = ", ".join(f"{money(total)} {currency}" for currency, total in totals.items())
    print(f"\n{len(subs)} sub-accounts holding {shown(held)}")
    return ExitCode.OK


def _subaccount_json(sub: sp.Subaccount) -> dict[str, object]:
    # The sub-account's own api_key is left out: the CLI never prints a key.
    return {
        "id": sub.id,
        "token": sub.token,
        "type": sub.type,
        "email": sub.email,
        "balance": money_json(sub.credits.balance),
        "currency": sub.credits.currency,
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
    }


async def create(ctx: Context) -> int:
    """``subaccounts create``: a new sub-account, optionally funded at once."""
    args = ctx.args
    # The library's messages name Python arguments (is_buyer); people typed options.
    if args.type == "advanced" and (args.email is None or args.buyer is None):
        raise CLIError("an advanced sub-account needs --email and --buyer or --no-buyer")
    async with ctx.client() as client:
        created = await client.subaccounts.create(
            args.type,
            email=args.email,
            is_buyer=args.buyer,
            credit_to_attribute=args.credit,
            title=args.title,
            firstname=args.firstname,
            lastname=args.lastname,
        )
    if ctx.json:
        emit_json(
            {
                "email": created.email,
                "token": created.token,
                "send_confirm_mail_to": created.send_confirm_mail_to,
                "parent_email": created.parent_email,
            }
        )
        return ExitCode.OK
    print(f"created {args.type} sub-account {shown(created.email)}")
    print(f"token: {shown(created.token)}")
    if created.send_confirm_mail_to:
        print(f"a confirmation e-mail goes to {shown(created.send_confirm_mail_to)}")
    return ExitCode.OK


async def delete(ctx: Context) -> int:
    """``subaccounts delete``: remove one sub-account."""
    token: str = ctx.args.token
    async with ctx.client() as client:
        await client.subaccounts.delete(token)
    if ctx.json:
        emit_json({"deleted": token})
    else:
        print(f"deleted sub-account {shown(token)}")
    return ExitCode.OK


async def add_credit(ctx: Context) -> int:
    """``credit add``: main account -> sub-account."""
    return await _move(ctx, remove=False)


async def remove_credit(ctx: Context) -> int:
    """``credit remove``: sub-account -> main account."""
    return await _move(ctx, remove=True)


async def _move(ctx: Context, *, remove: bool) -> int:
    token: str = ctx.args.token
    amount: str = ctx.args.amount
    async with ctx.client() as client:
        subs = client.subaccounts
        move = subs.remove_credit if remove else subs.add_credit
        transfer = await move(token, amount)
    if ctx.json:
        emit_json(
            {
                "token": token,
                "amount": money_json(Decimal(amount)),
                "direction": "to_main" if remove else "to_subaccount",
                "subaccount_balance": money_json(transfer.subaccount_balance),
                "account_balance": money_json(transfer.account_balance),
                "currency": transfer.currency,
            }
        )
        return ExitCode.OK
    where = f"from sub-account {token} to the main account" if remove else f"to {token}"
    print(shown(f"moved {money(Decimal(amount))} {transfer.currency} {where}"))
    rows = [
        ("sub-account balance", f"{money(transfer.subaccount_balance)} {transfer.currency}"),
        ("main balance", f"{money(transfer.account_balance)} {transfer.currency}"),
    ]
    print(pairs(rows, indent="  ", right=True))
    return ExitCode.OK


async def emulator(ctx: Context) -> int:
    """``emulator``: serve a fresh emulator on loopback until Ctrl-C."""
    args = ctx.args
    try:
        importlib.import_module("uvicorn")
    except ImportError:
        raise CLIError(
            "serving the emulator needs uvicorn: pip install 'smspartner-async[emulator]'"
        ) from None
    from smspartner_async._cli._sandbox import seeded_emulator  # noqa: PLC0415
    from smspartner_async.testing import serve  # noqa: PLC0415

    # The caller's key, when there is one, so their usual environment works unchanged.
    emu = seeded_emulator(args.seed_subaccounts, api_key=ctx.api_key, latency=args.latency)
    own_key = ctx.api_key is None

    def ready(url: str) -> None:
        if ctx.json:
            emit_json({"base_url": url, "api_key": emu.api_key if own_key else None})
        else:
            key = emu.api_key if own_key else "the one from --api-key / $SMSPARTNER_API_KEY"
            print(f"SMS Partner emulator listening on {url}")
            print(f"API key: {key}")
            print(f"{args.seed_subaccounts} sub-accounts seeded. Press Ctrl-C to stop.")
            example_key = emu.api_key if own_key else "KEY"
            print(f"try: smspartner-async --base-url {url} --api-key {example_key} account")
        # Whoever reads a pipe (a test, a script) needs the URL now, not at exit.
        sys.stdout.flush()

    try:
        await serve(emu, host=args.host, port=args.port, on_ready=ready)
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return ExitCode.OK  # pragma: no cover - serve returns only by cancellation
