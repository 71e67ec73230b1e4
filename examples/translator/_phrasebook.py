"""The translator's offline model (a helper module, not an example).

With a ``MODEL_*`` variable set this does nothing. With none set, :func:`serve_offline`
starts a local OpenAI-compatible server (``coagent.testing.FakeOpenAIServer``) and
points ``MODEL_*`` at it. Its model answers *every* request (a responder, not a list of
steps), translating the user's last message from a small Chinese-English phrasebook:

>>> translate("你好，世界")
'Hello, world!'
>>> translate("谢谢你的帮助。")
'Thank you for your help.'
"""

from __future__ import annotations

from typing import Any

# Longest entries are tried first, so phrases win over the words they contain.
PHRASEBOOK = {
    "你好，世界": "hello, world!",
    "你好世界": "hello world",
    "早上好": "good morning",
    "晚上好": "good evening",
    "晚安": "good night",
    "再见": "goodbye",
    "谢谢你的帮助": "thank you for your help",
    "谢谢": "thank you",
    "不客气": "you are welcome",
    "对不起": "sorry",
    "没关系": "it does not matter",
    "你好吗": "how are you",
    "我很好": "I am fine",
    "你好": "hello",
    "您好": "hello",
    "世界": "world",
    "我们": "we",
    "你们": "you",
    "他们": "they",
    "我的": "my",
    "你的": "your",
    "他的": "his",
    "她的": "her",
    "我": "I",
    "你": "you",
    "他": "he",
    "她": "she",
    "是": "am",
    "爱": "love",
    "喜欢": "like",
    "学习": "study",
    "中文": "Chinese",
    "英文": "English",
    "朋友": "friend",
    "今天": "today",
    "明天": "tomorrow",
    "天气": "the weather",
    "很好": "is very good",
    "好": "good",
    "的": "'s",
    "帮助": "help",
    "请": "please",
    "吃饭": "eat",
    "喝茶": "drink tea",
    "猫": "cat",
    "狗": "dog",
}
PUNCTUATION = {"，": ",", "。": ".", "！": "!", "？": "?", "：": ":", "；": ";", "、": ","}
_LONGEST = max(map(len, PHRASEBOOK))


def translate(text: str) -> str:
    """Phrase-by-phrase translation; characters the phrasebook lacks are kept as they are."""
    words: list[str] = []
    unknown = False  # the last word is characters the phrasebook lacks: keep the run together
    i = 0
    while i < len(text):
        for size in range(min(_LONGEST, len(text) - i), 0, -1):
            piece = text[i:i + size]
            if piece in PHRASEBOOK:
                words.append(PHRASEBOOK[piece])
                unknown = False
                i += size
                break
        else:
            char = text[i]
            if char in PUNCTUATION and words:
                words[-1] += PUNCTUATION[char]
                i += 1
            elif char.isascii():
                end = i
                while end < len(text) and text[end].isascii():
                    end += 1
                words.extend(text[i:end].split())  # text in Latin script stays as it is
                i = end
            elif not char.isspace():
                if unknown:
                    words[-1] += char
                else:
                    words.append(char)
                unknown = True
                i += 1
                continue
            else:
                i += 1
            unknown = False
    sentence = " ".join(words).replace(" 's", "'s")
    return sentence[:1].upper() + sentence[1:]


def respond(request: Any) -> Any:
    """The fake model's answer to one request: the translation of the last user message."""
    from coagent.testing import Reply

    user = next((m.get("content") or "" for m in reversed(request.messages) if m.get("role") == "user"), "")
    answer = translate(user) if user.strip() else "Please give me some Chinese to translate."
    return Reply(answer)  # streamed word by word


def serve_offline() -> Any:
    """Start the fake model server unless a provider is configured (then ``None``)."""
    from coagent.testing import serve_offline as serve

    return serve(respond)
