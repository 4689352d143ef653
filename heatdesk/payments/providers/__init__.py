"""Our own protocol layer for the payment providers (WeChat Pay API v3, Alipay RSA2).

Pure protocol functions live in `*_protocol.py` (signing, verifying, encrypting: used by both our
clients and the sandbox simulators), HTTP clients in `*_client.py`, bill-file parsers in
`*_bill.py`. Everything speaks integer fen; yuan appears only on the wire.
"""
