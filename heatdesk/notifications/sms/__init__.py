"""SMS delivery through a configured provider (sandbox, aliyun, tencent)."""
