"""The bot a competent developer would write by hand, for `bench.peer` to measure beside
visitbot: python-telegram-bot 22, a ConversationHandler with one state per question of a
packaged checklist (the same number of questions as visitbot walks), each answer
committed with SQLAlchemy (async, psycopg) to the same PostgreSQL, the next question sent
with sendMessage and a reply keyboard. The webhook is the one in python-telegram-bot's
custom-webhook example: Starlette under uvicorn puts each update on the application's
queue and answers 200 at once; every reply goes by API call.

    python -m bench.peer_bot --url postgresql+psycopg://…/db --port 8443 \\
        --public-url http://127.0.0.1:8443 --token … --base-url http://…/bot --secret …
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import uvicorn
from sqlalchemy import BigInteger, DateTime, Integer, String, func
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

CHECKLIST = "linzi-2022"
FINISHED = "记录已保存，谢谢。"
PICK = "请用下方的按钮回答。"


class Base(DeclarativeBase):
    pass


class PeerAnswer(Base):
    __tablename__ = "peer_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    question: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(String(200))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


@dataclass(frozen=True)
class Ask:
    prompt: str
    options: tuple[str, ...]


def questions(name: str = CHECKLIST) -> list[Ask]:
    """The checklist's questions with their buttons: its options, or 是/否 and the like
    where visitbot would take typed words (a date, a number, a photo)."""
    from conversations.checklist import load_checklist

    out = []
    for q in load_checklist(name).questions:
        options = tuple(o.label for o in q.options) or (
            ("是", "否") if q.type == "yesno" else ("无", "跳过"))
        out.append(Ask(q.prompt, options))
    return out


def build(url: str, token: str, base_url: str, concurrent: bool
          ) -> tuple[Application, async_sessionmaker]:  # type: ignore[type-arg]
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    asks = questions()

    async def ask(update: Update, i: int) -> int:
        keyboard = ReplyKeyboardMarkup([list(asks[i].options)], one_time_keyboard=True,
                                       resize_keyboard=True)
        await update.effective_message.reply_text(asks[i].prompt, reply_markup=keyboard)
        return i

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        return await ask(update, 0)

    def answer(i: int):  # type: ignore[no-untyped-def]
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            text = update.effective_message.text or ""
            if text not in asks[i].options:
                await update.effective_message.reply_text(PICK)
                return i
            async with sessions.begin() as session:
                session.add(PeerAnswer(chat_id=update.effective_chat.id, question=i,
                                       answer=text))
            if i + 1 == len(asks):
                await update.effective_message.reply_text(
                    FINISHED, reply_markup=ReplyKeyboardRemove())
                return ConversationHandler.END
            return await ask(update, i + 1)
        return handle

    async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await update.effective_message.reply_text("已取消。", reply_markup=ReplyKeyboardRemove())
        return ConversationHandler.END

    conversation = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={i: [MessageHandler(filters.TEXT & ~filters.COMMAND, answer(i))]
                for i in range(len(asks))},
        fallbacks=[CommandHandler("cancel", cancel)],
    )
    app = (Application.builder().token(token).base_url(base_url).updater(None)
           .concurrent_updates(concurrent).build())
    app.add_handler(conversation)
    return app, sessions


async def serve(args: argparse.Namespace) -> None:
    app, sessions = build(args.url, args.token, args.base_url, args.concurrent)
    async with sessions.kw["bind"].begin() as conn:  # the peer's one table, if not there
        await conn.run_sync(Base.metadata.create_all)

    async def telegram(request: Request) -> Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != args.secret:
            return Response(status_code=403)
        await app.update_queue.put(Update.de_json(await request.json(), app.bot))
        return Response()

    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/telegram", telegram, methods=["POST"])]),
        host="127.0.0.1", port=args.port, log_level="warning", access_log=False))
    async with app:
        await app.start()
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        await app.bot.set_webhook(f"{args.public_url}/telegram", secret_token=args.secret)
        await serving
        await app.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--public-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--concurrent", action="store_true",
                    help="concurrent_updates(True); python-telegram-bot's default is one "
                         "update at a time")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
