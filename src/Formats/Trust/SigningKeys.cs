using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Mlx.Formats.Trust;

/// <summary>EC key helpers shared by signing and verification (OMS: P-256/SHA-256, P-384/SHA-384, P-521/SHA-512).</summary>
public static class EcKeys
{
    private static readonly string[] s_curves = ["1.2.840.10045.3.1.7", "1.3.132.0.34", "1.3.132.0.35"];

    /// <summary>The hash the format pairs with the key's curve.</summary>
    public static HashAlgorithmName HashFor(ECDsa key) => key.KeySize switch
    {
        256 => HashAlgorithmName.SHA256,
        384 => HashAlgorithmName.SHA384,
        521 => HashAlgorithmName.SHA512,
        _ => throw new CryptographicException($"unsupported EC key size {key.KeySize}"),
    };

    /// <summary>Refuses keys on curves other than P-256, P-384 and P-521.</summary>
    public static void CheckSupported(ECDsa key, string what)
    {
        ECParameters p = key.ExportParameters(false);
        string? oid = p.Curve.Oid?.Value;
        if (oid is null && p.Curve.Oid?.FriendlyName is { } name)
        {
            oid = name switch { "nistP256" or "ECDSA_P256" => s_curves[0], "nistP384" or "ECDSA_P384" => s_curves[1], "nistP521" or "ECDSA_P521" => s_curves[2], _ => null };
        }
        if (oid is null || !s_curves.Contains(oid))
        {
            throw new CryptographicException($"{what}: only EC keys on P-256, P-384 or P-521 are supported");
        }
    }

    /// <summary>The public key as PEM SubjectPublicKeyInfo, exactly as Python's cryptography writes it (64-column lines, final newline).</summary>
    public static string PublicKeyPem(ECDsa key) => key.ExportSubjectPublicKeyInfoPem().ReplaceLineEndings("\n") + "\n";

    /// <summary>The OMS key hint: lower-case hex SHA-256 of <see cref="PublicKeyPem"/>.</summary>
    public static string Hint(ECDsa key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(PublicKeyPem(key))));

    /// <summary>Loads an EC private key from PEM (PKCS#8, SEC1, or encrypted PKCS#8 with a password).</summary>
    /// <exception cref="CryptographicException">Not a supported EC private key.</exception>
    public static ECDsa LoadPrivateKeyPem(string pem, string? password = null)
    {
        var key = ECDsa.Create();
        try
        {
            if (pem.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
            {
                if (password is null)
                {
                    throw new CryptographicException("the private key is encrypted; a password is needed");
                }
                key.ImportFromEncryptedPem(pem, password);
            }
            else
            {
                key.ImportFromPem(pem);
            }
            CheckSupported(key, "private key");
            _ = key.ExportParameters(true);
            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new CryptographicException($"not a usable EC private key (P-256, P-384 or P-521 expected): {e.Message}", e);
        }
    }

    /// <summary>Loads an EC public key from PEM (SubjectPublicKeyInfo); a certificate's key is accepted too.</summary>
    /// <exception cref="CryptographicException">Not a supported EC public key.</exception>
    public static ECDsa LoadPublicKeyPem(string pem)
    {
        if (pem.Contains("BEGIN CERTIFICATE", StringComparison.Ordinal))
        {
            using var cert = X509Certificate2.CreateFromPem(pem);
            ECDsa k = cert.GetECDsaPublicKey() ?? throw new CryptographicException("the certificate's key is not an EC key");
            CheckSupported(k, "public key");
            return k;
        }
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            CheckSupported(key, "public key");
            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new CryptographicException($"not a usable EC public key (P-256, P-384 or P-521 expected): {e.Message}", e);
        }
    }

    /// <summary>Loads every certificate of a PEM file (in order).</summary>
    public static X509Certificate2Collection LoadCertificatesPem(string pem)
    {
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            throw new CryptographicException($"not a PEM certificate file: {e.Message}", e);
        }
        if (all.Count == 0)
        {
            throw new CryptographicException("no certificate in the PEM text");
        }
        return all;
    }
}
