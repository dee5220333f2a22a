"""An organisation PKI: root and intermediate CA, code-signing and SPIFFE workload certificates, CRLs.

The root signs only the intermediate; the intermediate signs leaves and the CRL. Private keys
are PKCS#8 encrypted at rest with the PKI passphrase; nothing here prints a key or passphrase.
"""
