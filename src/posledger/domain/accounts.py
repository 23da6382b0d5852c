"""The default chart of accounts (CONTRACT section 4)."""

from __future__ import annotations

__all__ = ["CHART", "TENDER_ACCOUNTS", "TENDER_OF_ACCOUNT", "account_name"]

CASH_DRAWER = "1000"
STORE_SAFE = "1010"
BANK = "1020"
CARD_CLEARING = "1100"
WALLET_CLEARING = "1110"
ACCOUNTS_RECEIVABLE = "1200"
INVENTORY = "1300"
INTERSTORE_TRANSFERS = "1310"
SUSPENSE = "1999"
GRNI = "2000"
SALES_TAX_PAYABLE = "2100"
GIFT_CARD_LIABILITY = "2200"
GROSS_SALES = "4000"
DISCOUNTS = "4010"
RETURNS = "4020"
COGS = "5000"
SHRINKAGE = "5100"
CARD_FEES = "6100"
CASH_OVER_SHORT = "6200"
PETTY_EXPENSES = "6900"

CHART: dict[str, tuple[str, str]] = {
    CASH_DRAWER: ("Register cash drawer", "asset"),
    STORE_SAFE: ("Store safe", "asset"),
    BANK: ("Bank", "asset"),
    CARD_CLEARING: ("Card clearing", "asset"),
    WALLET_CLEARING: ("Wallet clearing", "asset"),
    ACCOUNTS_RECEIVABLE: ("Accounts receivable", "asset"),
    INVENTORY: ("Inventory", "asset"),
    INTERSTORE_TRANSFERS: ("Inter-store transfers", "asset"),
    SUSPENSE: ("Suspense", "asset"),
    GRNI: ("Goods received not invoiced", "liability"),
    SALES_TAX_PAYABLE: ("Sales tax payable", "liability"),
    GIFT_CARD_LIABILITY: ("Gift card liability", "liability"),
    GROSS_SALES: ("Gross sales", "income"),
    DISCOUNTS: ("Discounts and promotions", "income (contra)"),
    RETURNS: ("Returns and allowances", "income (contra)"),
    COGS: ("Cost of goods sold", "expense"),
    SHRINKAGE: ("Inventory shrinkage and adjustments", "expense"),
    CARD_FEES: ("Card processing fees", "expense"),
    CASH_OVER_SHORT: ("Cash over and short", "expense"),
    PETTY_EXPENSES: ("Store petty expenses", "expense"),
}

TENDER_ACCOUNTS: dict[str, str] = {
    "cash": CASH_DRAWER,
    "card": CARD_CLEARING,
    "wallet": WALLET_CLEARING,
    "gift_card": GIFT_CARD_LIABILITY,
    "on_account": ACCOUNTS_RECEIVABLE,
}


TENDER_OF_ACCOUNT: dict[str, str] = {account: tender for tender, account in TENDER_ACCOUNTS.items()}


def account_name(code: str) -> str:
    return CHART.get(code, (code, ""))[0]
