using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Trust;

/// <summary>Constants of the OpenSSF Model Signing format (OMS v1.0, sigstore/model-transparency).</summary>
public static class Oms
{
    /// <summary>The signature's file name in the model folder.</summary>
    public const string SignatureFileName = "model.sig";

    /// <summary>Sigstore bundle media type written and accepted.</summary>
    public const string BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";

    /// <summary>DSSE payload type of the in-toto statement.</summary>
    public const string PayloadType = "application/vnd.in-toto+json";

    /// <summary>in-toto statement type.</summary>
    public const string StatementType = "https://in-toto.io/Statement/v1";

    /// <summary>Model signature predicate type.</summary>
    public const string PredicateType = "https://model_signing/signature/v1.0";

    /// <summary>Paths the reference implementation always ignores (relative to the model folder).</summary>
    public static readonly IReadOnlyList<string> DefaultIgnorePaths = [SignatureFileName, ".git", ".gitattributes", ".github", ".gitignore"];

    /// <summary>DSSE pre-authentication encoding: "DSSEv1 SP len(type) SP type SP len(body) SP body".</summary>
    public static byte[] Pae(string payloadType, ReadOnlySpan<byte> payload)
    {
        byte[] type = Encoding.UTF8.GetBytes(payloadType);
        byte[] head = Encoding.UTF8.GetBytes($"DSSEv1 {type.Length} {payloadType} {payload.Length} ");
        byte[] result = new byte[head.Length + payload.Length];
        head.CopyTo(result, 0);
        payload.CopyTo(result.AsSpan(head.Length));
        return result;
    }

    /// <summary>Sort order of resources: by path components, each compared ordinally (Python's PurePosixPath order).</summary>
    public static int CompareNames(string a, string b)
    {
        string[] x = a.Split('/');
        string[] y = b.Split('/');
        for (int i = 0; i < Math.Min(x.Length, y.Length); i++)
        {
            int c = string.CompareOrdinal(x[i], y[i]);
            if (c != 0)
            {
                return c;
            }
        }
        return x.Length.CompareTo(y.Length);
    }
}

/// <summary>One file of a model folder and its SHA-256 (lower-case hex), relative name with '/' separators.</summary>
public readonly record struct ManifestEntry(string Name, string Sha256);

/// <summary>How a model folder is hashed into a manifest.</summary>
public sealed class ManifestOptions
{
    /// <summary>Include symbolic links (to regular files inside the folder, hashed by content). Default false: a link is an error.</summary>
    public bool AllowSymlinks { get; init; }

    /// <summary>Extra relative paths to ignore (a folder ignores everything below it), besides <see cref="Oms.DefaultIgnorePaths"/>.</summary>
    public IReadOnlyList<string> IgnorePaths { get; init; } = [];

    /// <summary>Largest file hashed. Default 1 TiB.</summary>
    public long MaxFileBytes { get; init; } = 1L << 40;

    /// <summary>Most files in the folder. Default 1,000,000.</summary>
    public int MaxFiles { get; init; } = 1_000_000;
}

/// <summary>Signs model folders in the OMS v1.0 format with an EC private key, optionally with a certificate chain.</summary>
public sealed class ModelSigner : IDisposable
{
    private readonly ECDsa _key;
    private readonly X509Certificate2Collection? _chain;

    private ModelSigner(ECDsa key, X509Certificate2Collection? chain)
    {
        _key = key;
        _chain = chain;
    }

    /// <summary>A signer for an EC private key (PEM: PKCS#8, SEC1, or encrypted PKCS#8 with <paramref name="password"/>).</summary>
    /// <exception cref="CryptographicException">Not a supported key.</exception>
    public static ModelSigner FromPrivateKeyPem(string privateKeyPem, string? password = null) =>
        new(EcKeys.LoadPrivateKeyPem(privateKeyPem, password), null);

    /// <summary>
    /// A signer whose bundle carries a certificate chain: <paramref name="certificateChainPem"/> holds the signing
    /// certificate first (its key must be the private key's pair), then the intermediates.
    /// </summary>
    public static ModelSigner FromPrivateKeyAndCertificates(string privateKeyPem, string certificateChainPem, string? password = null)
    {
        ECDsa key = EcKeys.LoadPrivateKeyPem(privateKeyPem, password);
        try
        {
            X509Certificate2Collection chain = EcKeys.LoadCertificatesPem(certificateChainPem);
            using ECDsa certKey = chain[0].GetECDsaPublicKey() ?? throw new CryptographicException("the signing certificate's key is not an EC key");
            if (!certKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new CryptographicException("the signing certificate's public key is not the private key's pair");
            }
            return new ModelSigner(key, chain);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Adopts a key (and optional chain, signing certificate first); the signer owns the key.</summary>
    public static ModelSigner FromKey(ECDsa key, X509Certificate2Collection? chain = null)
    {
        EcKeys.CheckSupported(key, "private key");
        return new ModelSigner(key, chain);
    }

    /// <summary>
    /// Hashes every file of <paramref name="modelFolder"/> (except the ignored ones), writes the signed bundle
    /// to <c>model.sig</c> in the folder (through a temp file and a rename) and returns its bytes.
    /// </summary>
    /// <exception cref="SignatureVerificationException">The folder holds a link (when not allowed), a FIFO or device.</exception>
    /// <exception cref="PathRefusedException">The folder cannot be used.</exception>
    public byte[] Sign(string modelFolder, ManifestOptions? options = null)
    {
        options ??= new ManifestOptions();
        var root = new ModelRoot(modelFolder, options.MaxFileBytes);
        List<string> ignore = [.. Oms.DefaultIgnorePaths, .. options.IgnorePaths];
        List<(string Name, string Path)> files = ModelFolder.Enumerate(root, ignore, options.AllowSymlinks, options.MaxFiles);
        var entries = new List<ManifestEntry>(files.Count);
        foreach ((string name, string path) in files)
        {
            using SafeFileHandle h = root.OpenResolved(path, options.MaxFileBytes, out long length);
            entries.Add(new ManifestEntry(name, Convert.ToHexStringLower(ModelFolder.HashHandle(h, length))));
        }
        string modelName = Path.GetFileName(root.FullPath.TrimEnd('/', '\\'));
        byte[] payload = BuildStatement(modelName, entries, options.AllowSymlinks, ignore);
        byte[] bundle = SignPayload(payload);
        Internal.AtomicFile.Write(Path.Combine(root.FullPath, Oms.SignatureFileName), s => s.Write(bundle));
        return bundle;
    }

    /// <summary>The in-toto statement (UTF-8 JSON) for a manifest: resources sorted by name, subject digest over their digests.</summary>
    public static byte[] BuildStatement(string modelName, IEnumerable<ManifestEntry> entries, bool allowSymlinks, IEnumerable<string> ignorePaths)
    {
        List<ManifestEntry> sorted = entries.ToList();
        sorted.Sort((a, b) => Oms.CompareNames(a.Name, b.Name));
        using var root = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (ManifestEntry e in sorted)
        {
            root.AppendData(Convert.FromHexString(e.Sha256));
        }
        string subjectDigest = Convert.ToHexStringLower(root.GetHashAndReset());
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("_type", Oms.StatementType);
            w.WriteStartArray("subject");
            w.WriteStartObject();
            w.WriteString("name", modelName);
            w.WriteStartObject("digest");
            w.WriteString("sha256", subjectDigest);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("predicateType", Oms.PredicateType);
            w.WriteStartObject("predicate");
            w.WriteStartObject("serialization");
            w.WriteString("method", "files");
            w.WriteString("hash_type", "sha256");
            w.WriteBoolean("allow_symlinks", allowSymlinks);
            w.WriteStartArray("ignore_paths");
            foreach (string p in ignorePaths.Distinct(StringComparer.Ordinal))
            {
                w.WriteStringValue(p);
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartArray("resources");
            foreach (ManifestEntry e in sorted)
            {
                w.WriteStartObject();
                w.WriteString("algorithm", "sha256");
                w.WriteString("digest", e.Sha256);
                w.WriteString("name", e.Name);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>Signs a statement: DSSE envelope (PAE, DER ECDSA) inside a Sigstore bundle v0.3 (UTF-8 JSON).</summary>
    public byte[] SignPayload(byte[] payload)
    {
        byte[] signature = _key.SignData(Oms.Pae(Oms.PayloadType, payload), EcKeys.HashFor(_key), DSASignatureFormat.Rfc3279DerSequence);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("mediaType", Oms.BundleMediaType);
            w.WriteStartObject("verificationMaterial");
            if (_chain is null)
            {
                w.WriteStartObject("publicKey");
                w.WriteString("hint", EcKeys.Hint(_key));
                w.WriteEndObject();
            }
            else
            {
                w.WriteStartObject("x509CertificateChain");
                w.WriteStartArray("certificates");
                foreach (X509Certificate2 c in _chain)
                {
                    w.WriteStartObject();
                    w.WriteBase64String("rawBytes", c.RawData);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteStartArray("tlogEntries");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("dsseEnvelope");
            w.WriteBase64String("payload", payload);
            w.WriteString("payloadType", Oms.PayloadType);
            w.WriteStartArray("signatures");
            w.WriteStartObject();
            w.WriteBase64String("sig", signature);
            w.WriteString("keyid", "");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>Disposes the key.</summary>
    public void Dispose()
    {
        _key.Dispose();
        if (_chain is not null)
        {
            foreach (X509Certificate2 c in _chain)
            {
                c.Dispose();
            }
        }
    }
}

/// <summary>Walks a model folder the way the OMS "files" serialization does, with this library's path rules.</summary>
internal static class ModelFolder
{
    public static bool IsIgnored(string name, IEnumerable<string> ignore)
    {
        foreach (string raw in ignore)
        {
            string i = raw.Trim('/');
            if (i.Length == 0)
            {
                continue;
            }
            if (name == i || name.StartsWith(i + "/", StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Every regular file (relative name, canonical path), sorted; links, FIFOs, devices and sockets refused as the format does.</summary>
    public static List<(string Name, string Path)> Enumerate(ModelRoot root, IReadOnlyList<string> ignore, bool allowSymlinks, int maxFiles)
    {
        var result = new List<(string, string)>();
        var folders = new Stack<string>();
        folders.Push("");
        while (folders.Count > 0)
        {
            string rel = folders.Pop();
            string dir = rel.Length == 0 ? root.FullPath : Path.Combine(root.FullPath, rel);
            foreach (string entry in Directory.EnumerateFileSystemEntries(dir))
            {
                string fileName = Path.GetFileName(entry);
                string name = rel.Length == 0 ? fileName : rel + "/" + fileName;
                if (IsIgnored(name, ignore))
                {
                    continue;
                }
                FileStat st = SafeFile.Lstat(entry);
                switch (st.Kind)
                {
                    case FileKind.Directory:
                        folders.Push(name);
                        break;
                    case FileKind.Regular:
                        result.Add((name, entry));
                        break;
                    case FileKind.Symlink when !allowSymlinks:
                        throw new SignatureVerificationException(name, VerificationCheck.Symlink, "is a symbolic link and links are not allowed");
                    case FileKind.Symlink:
                        string real;
                        try
                        {
                            real = root.Resolve(name);
                        }
                        catch (PathRefusedException e)
                        {
                            throw new SignatureVerificationException(name, VerificationCheck.Symlink, e.Reason);
                        }
                        result.Add((name, real));
                        break;
                    case FileKind.Missing:
                        break;
                    default:
                        throw new SignatureVerificationException(name, VerificationCheck.NotRegularFile, $"is {FileStat.Describe(st.Kind)}");
                }
                if (result.Count > maxFiles)
                {
                    throw new PathRefusedException(root.FullPath, $"more than {maxFiles} files");
                }
            }
        }
        result.Sort((a, b) => Oms.CompareNames(a.Item1, b.Item1));
        return result;
    }

    public static byte[] HashHandle(SafeFileHandle h, long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[(int)Math.Clamp(length, 1, 1 << 20)];
        long done = 0;
        while (true)
        {
            int n = RandomAccess.Read(h, buffer, done);
            if (n == 0)
            {
                break;
            }
            hash.AppendData(buffer, 0, n);
            done += n;
        }
        return hash.GetHashAndReset();
    }
}
