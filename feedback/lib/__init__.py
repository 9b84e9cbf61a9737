"""Framework-free building blocks for feedback: passwords, AES archives, workbooks, the SMS gateway client.

Nothing here imports Django; each module has its own unit tests in tests/feedback/.
"""
