using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Trust;

/// <summary>Who may sign: an EC public key, or certificate roots that a signing certificate must chain to.</summary>
public sealed class TrustedSigner : IDisposable
{
    private TrustedSigner(ECDsa? key, X509Certificate2Collection? roots)
    {
        Key = key;
        Roots = roots;
    }

    /// <summary>The trusted public key, when verifying with a key.</summary>
    public ECDsa? Key { get; }

    /// <summary>The trusted roots, when verifying certificate-chain signatures.</summary>
    public X509Certificate2Collection? Roots { get; }

    /// <summary>Trusts an EC public key (PEM SubjectPublicKeyInfo).</summary>
    /// <exception cref="CryptographicException">Not a supported EC public key.</exception>
    public static TrustedSigner FromPublicKeyPem(string pem) => new(EcKeys.LoadPublicKeyPem(pem), null);

    /// <summary>Trusts an EC public key; the signer takes ownership.</summary>
    public static TrustedSigner FromPublicKey(ECDsa key)
    {
        EcKeys.CheckSupported(key, "public key");
        return new TrustedSigner(key, null);
    }

    /// <summary>Trusts signing certificates that chain to one of these certificates (PEM, one or more).</summary>
    public static TrustedSigner FromCertificateChainPem(string pem) => new(null, EcKeys.LoadCertificatesPem(pem));

    /// <summary>Trusts signing certificates that chain to one of <paramref name="roots"/>.</summary>
    public static TrustedSigner FromCertificates(X509Certificate2Collection roots) => new(null, roots);

    /// <summary>Disposes the key.</summary>
    public void Dispose() => Key?.Dispose();
}

/// <summary>Options of <see cref="ModelVerifier.Verify"/>.</summary>
public sealed class VerifyOptions
{
    /// <summary>
    /// Whether symbolic links may be followed at all (and then only if the signature says so, and only to files
    /// inside the folder). Default false: a link fails verification.
    /// </summary>
    public bool AllowSymlinks { get; init; }

    /// <summary>Extra relative paths to ignore, besides the defaults and those recorded in the signature.</summary>
    public IReadOnlyList<string> IgnorePaths { get; init; } = [];

    /// <summary>
    /// Files of which a private copy is kept while hashing, so they can be parsed afterwards from exactly the
    /// verified bytes (<see cref="VerifiedModel.OpenModelFile"/>). Default: none.
    /// </summary>
    public Func<string, bool>? KeepCopy { get; init; }

    /// <summary>Largest file accepted. Default 1 TiB.</summary>
    public long MaxFileBytes { get; init; } = 1L << 40;

    /// <summary>Largest model.sig accepted. Default 64 MiB.</summary>
    public long MaxSignatureBytes { get; init; } = 64L << 20;

    /// <summary>Most files in the folder. Default 1,000,000.</summary>
    public int MaxFiles { get; init; } = 1_000_000;
}

/// <summary>A model folder whose signature and every file verified; holds private copies of the files asked for.</summary>
public sealed class VerifiedModel : IDisposable
{
    private readonly Dictionary<string, (SafeFileHandle Handle, long Length)> _copies;

    internal VerifiedModel(ModelRoot root, string modelName, IReadOnlyList<ManifestEntry> files, Dictionary<string, (SafeFileHandle, long)> copies)
    {
        Root = root;
        ModelName = modelName;
        Files = files;
        _copies = copies;
    }

    /// <summary>The verified folder.</summary>
    public ModelRoot Root { get; }

    /// <summary>The model name recorded in the signature (informative only).</summary>
    public string ModelName { get; }

    /// <summary>Every signed file and its digest, in signature order.</summary>
    public IReadOnlyList<ManifestEntry> Files { get; }

    /// <summary>Whether a private copy of <paramref name="name"/> was kept.</summary>
    public bool HasCopy(string name) => _copies.ContainsKey(name);

    /// <summary>
    /// Parses a verified file from its private copy (the bytes that were hashed). The result owns the copy;
    /// each name can be opened once.
    /// </summary>
    /// <exception cref="ArgumentException">No copy of that file was kept (see <see cref="VerifyOptions.KeepCopy"/>).</exception>
    public ModelFile OpenModelFile(string name, LoadLimits? limits = null)
    {
        if (!_copies.Remove(name, out var copy))
        {
            throw new ArgumentException($"no verified copy of '{name}' was kept (VerifyOptions.KeepCopy), or it was opened already", nameof(name));
        }
        return ModelFile.OpenOwnedHandle(Path.Combine(Root.FullPath, name), copy.Handle, copy.Length, limits ?? LoadLimits.Default);
    }

    /// <summary>Reads the whole verified copy of a (small) file, e.g. an index JSON.</summary>
    public byte[] ReadAllBytes(string name, long maxBytes = 64L << 20)
    {
        if (!_copies.TryGetValue(name, out var copy))
        {
            throw new ArgumentException($"no verified copy of '{name}' was kept (VerifyOptions.KeepCopy)", nameof(name));
        }
        if (copy.Length > maxBytes)
        {
            throw new PathRefusedException(name, $"is {copy.Length} bytes, over the limit of {maxBytes}");
        }
        byte[] bytes = new byte[copy.Length];
        int done = 0;
        while (done < bytes.Length)
        {
            int n = RandomAccess.Read(copy.Handle, bytes.AsSpan(done), done);
            if (n == 0)
            {
                throw new IOException($"{name}: the private copy ended early");
            }
            done += n;
        }
        return bytes;
    }

    /// <summary>Closes (and so deletes) the private copies not handed out.</summary>
    public void Dispose()
    {
        foreach ((SafeFileHandle h, _) in _copies.Values)
        {
            h.Dispose();
        }
        _copies.Clear();
    }
}

/// <summary>
/// Verifies OMS v1.0 model signatures (Sigstore bundle, DSSE envelope, in-toto statement) made with an EC key or
/// a certificate chain. Fails closed: every failure is a <see cref="SignatureVerificationException"/> naming the
/// file and the check. Keyless Sigstore (Fulcio certificates, Rekor log) needs the network and is refused.
/// </summary>
public static class ModelVerifier
{
    private const string Sig = Oms.SignatureFileName;
    private static readonly JsonDocumentOptions s_json = new() { MaxDepth = 32, AllowDuplicateProperties = false };

    /// <summary>Verifies <paramref name="modelFolder"/> against its <c>model.sig</c>.</summary>
    /// <exception cref="SignatureVerificationException">Any check failed.</exception>
    /// <exception cref="PathRefusedException">The folder cannot be used.</exception>
    public static VerifiedModel Verify(string modelFolder, TrustedSigner signer, VerifyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(signer);
        options ??= new VerifyOptions();
        var root = new ModelRoot(modelFolder, options.MaxFileBytes);
        byte[] bundle;
        try
        {
            bundle = root.ReadAllBytes(Sig, options.MaxSignatureBytes, allowSubfolders: false);
        }
        catch (PathRefusedException e)
        {
            throw new SignatureVerificationException(Sig, VerificationCheck.Bundle, e.Reason);
        }
        Statement statement = VerifyBundle(bundle, signer);
        return CheckFolder(root, statement, options);
    }

    /// <summary>The verified content of a bundle.</summary>
    internal sealed record Statement(string ModelName, bool AllowSymlinks, List<string> IgnorePaths, List<ManifestEntry> Resources);

    private static SignatureVerificationException Fail(VerificationCheck check, string reason, string file = Sig, Exception? inner = null) =>
        new(file, check, reason, inner);

    private static JsonElement Prop(JsonElement obj, string name, JsonValueKind kind, VerificationCheck check, string where)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement v))
        {
            throw Fail(check, $"{where}: no '{name}'");
        }
        if (v.ValueKind != kind && !(kind == JsonValueKind.True && v.ValueKind == JsonValueKind.False))
        {
            throw Fail(check, $"{where}: '{name}' is {v.ValueKind}, expected {(kind == JsonValueKind.True ? "a boolean" : kind.ToString())}");
        }
        return v;
    }

    private static byte[] Base64(string text, VerificationCheck check, string what)
    {
        string s = text.Replace('-', '+').Replace('_', '/');
        s = s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
        try
        {
            return Convert.FromBase64String(s);
        }
        catch (FormatException)
        {
            throw Fail(check, $"{what} is not base64");
        }
    }

    /// <summary>Checks the bundle and its signature with the trusted signer and returns the statement it signs.</summary>
    internal static Statement VerifyBundle(byte[] bundleBytes, TrustedSigner signer)
    {
        if (bundleBytes.Length == 0)
        {
            throw Fail(VerificationCheck.Bundle, "the file is empty");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bundleBytes, s_json);
        }
        catch (JsonException e)
        {
            throw Fail(VerificationCheck.Bundle, $"not a JSON Sigstore bundle ({e.Message.Split('.')[0]})");
        }
        byte[] payload;
        using (doc)
        {
            JsonElement b = doc.RootElement;
            if (b.ValueKind != JsonValueKind.Object)
            {
                throw Fail(VerificationCheck.Bundle, "not a JSON object");
            }
            string mediaType = Prop(b, "mediaType", JsonValueKind.String, VerificationCheck.Bundle, "bundle").GetString()!;
            if (mediaType != Oms.BundleMediaType)
            {
                throw Fail(VerificationCheck.Bundle, $"media type '{mediaType}', expected '{Oms.BundleMediaType}'");
            }
            JsonElement material = Prop(b, "verificationMaterial", JsonValueKind.Object, VerificationCheck.Bundle, "bundle");
            bool hasTlog = material.TryGetProperty("tlogEntries", out JsonElement tlog) && tlog.ValueKind == JsonValueKind.Array && tlog.GetArrayLength() > 0;
            if (material.TryGetProperty("certificate", out _) || (hasTlog && !material.TryGetProperty("publicKey", out _) && !material.TryGetProperty("x509CertificateChain", out _)))
            {
                throw Fail(VerificationCheck.Unsupported, "a keyless Sigstore signature (Fulcio certificate, Rekor log) needs the network to verify; this verifier works offline with a key or a certificate chain only");
            }
            JsonElement envelope = Prop(b, "dsseEnvelope", JsonValueKind.Object, VerificationCheck.Bundle, "bundle");
            string payloadType = Prop(envelope, "payloadType", JsonValueKind.String, VerificationCheck.Bundle, "dsseEnvelope").GetString()!;
            payload = Base64(Prop(envelope, "payload", JsonValueKind.String, VerificationCheck.Bundle, "dsseEnvelope").GetString()!, VerificationCheck.Bundle, "dsseEnvelope.payload");
            JsonElement sigs = Prop(envelope, "signatures", JsonValueKind.Array, VerificationCheck.Bundle, "dsseEnvelope");
            if (sigs.GetArrayLength() == 0)
            {
                throw Fail(VerificationCheck.Bundle, "dsseEnvelope has no signature");
            }
            byte[] signature = Base64(Prop(sigs[0], "sig", JsonValueKind.String, VerificationCheck.Bundle, "signatures[0]").GetString()!, VerificationCheck.Bundle, "signature");

            ECDsa key;
            bool ownsKey = false;
            if (signer.Key is { } trusted)
            {
                if (material.TryGetProperty("x509CertificateChain", out _))
                {
                    throw Fail(VerificationCheck.Signature, "the model was signed with a certificate chain; verify with the trusted certificate roots, not a key");
                }
                if (material.TryGetProperty("publicKey", out JsonElement pk) && pk.ValueKind == JsonValueKind.Object
                    && pk.TryGetProperty("hint", out JsonElement hint) && hint.ValueKind == JsonValueKind.String && hint.GetString() is { Length: > 0 } h
                    && !string.Equals(h, EcKeys.Hint(trusted), StringComparison.OrdinalIgnoreCase))
                {
                    throw Fail(VerificationCheck.Signature, $"signed by another key (key hint {h}, the trusted key's is {EcKeys.Hint(trusted)})");
                }
                key = trusted;
            }
            else
            {
                key = VerifyChain(material, signer.Roots!);
                ownsKey = true;
            }
            try
            {
                bool ok;
                try
                {
                    ok = key.VerifyData(Oms.Pae(payloadType, payload), signature, EcKeys.HashFor(key), DSASignatureFormat.Rfc3279DerSequence);
                }
                catch (CryptographicException)
                {
                    ok = false;
                }
                if (!ok)
                {
                    throw Fail(VerificationCheck.Signature, "the signature does not verify with the trusted key (wrong key, or the envelope was changed)");
                }
            }
            finally
            {
                if (ownsKey)
                {
                    key.Dispose();
                }
            }
            // Only now, with the signature verified, is the payload type looked at.
            if (payloadType != Oms.PayloadType)
            {
                throw Fail(VerificationCheck.PayloadType, $"'{payloadType}', expected '{Oms.PayloadType}'");
            }
        }
        return ParseStatement(payload);
    }

    private static ECDsa VerifyChain(JsonElement material, X509Certificate2Collection roots)
    {
        if (!material.TryGetProperty("x509CertificateChain", out JsonElement chainJson))
        {
            throw Fail(VerificationCheck.Certificate, "the bundle holds no certificate chain (it was signed with a bare key; verify with that public key)");
        }
        JsonElement certs = Prop(chainJson, "certificates", JsonValueKind.Array, VerificationCheck.Bundle, "x509CertificateChain");
        if (certs.GetArrayLength() == 0 || certs.GetArrayLength() > 10)
        {
            throw Fail(VerificationCheck.Bundle, $"x509CertificateChain holds {certs.GetArrayLength()} certificates (1 to 10 accepted)");
        }
        var all = new List<X509Certificate2>();
        try
        {
            foreach (JsonElement c in certs.EnumerateArray())
            {
                byte[] der = Base64(Prop(c, "rawBytes", JsonValueKind.String, VerificationCheck.Bundle, "certificate").GetString()!, VerificationCheck.Bundle, "certificate rawBytes");
                try
                {
                    all.Add(X509CertificateLoader.LoadCertificate(der));
                }
                catch (CryptographicException e)
                {
                    throw Fail(VerificationCheck.Certificate, $"a certificate in the bundle is not DER X.509: {e.Message}");
                }
            }
            X509Certificate2 leaf = all[0];
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.ExtraStore.AddRange(all.Skip(1).ToArray());
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            // As the reference implementation: the chain is checked at the signing certificate's start of validity.
            chain.ChainPolicy.VerificationTime = leaf.NotBefore.AddSeconds(1);
            chain.ChainPolicy.VerificationTimeIgnored = false;
            if (!chain.Build(leaf))
            {
                string status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
                throw Fail(VerificationCheck.Certificate, $"the signing certificate '{leaf.Subject}' does not chain to a trusted root ({status})");
            }
            bool canSign = false;
            foreach (X509Extension ext in leaf.Extensions)
            {
                if (ext is X509KeyUsageExtension ku && (ku.KeyUsages & X509KeyUsageFlags.DigitalSignature) != 0)
                {
                    canSign = true;
                }
                if (ext is X509EnhancedKeyUsageExtension eku && eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == "1.3.6.1.5.5.7.3.3"))
                {
                    canSign = true;
                }
            }
            if (!canSign)
            {
                throw Fail(VerificationCheck.Certificate, "the signing certificate allows neither digital signatures nor code signing");
            }
            ECDsa key = leaf.GetECDsaPublicKey() ?? throw Fail(VerificationCheck.Certificate, "the signing certificate's key is not an EC key");
            EcKeys.CheckSupported(key, "certificate key");
            return key;
        }
        finally
        {
            foreach (X509Certificate2 c in all)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>Parses and checks a signed in-toto statement (after the signature verified).</summary>
    internal static Statement ParseStatement(byte[] payload)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload, s_json);
        }
        catch (JsonException e)
        {
            throw Fail(VerificationCheck.Statement, $"the signed payload is not JSON ({e.Message.Split('.')[0]})");
        }
        using (doc)
        {
            JsonElement s = doc.RootElement;
            if (s.ValueKind != JsonValueKind.Object)
            {
                throw Fail(VerificationCheck.Statement, "the statement is not a JSON object");
            }
            string type = Prop(s, "_type", JsonValueKind.String, VerificationCheck.PayloadType, "statement").GetString()!;
            if (type != Oms.StatementType)
            {
                throw Fail(VerificationCheck.PayloadType, $"statement type '{type}', expected '{Oms.StatementType}'");
            }
            string predicateType = Prop(s, "predicateType", JsonValueKind.String, VerificationCheck.PredicateType, "statement").GetString()!;
            if (predicateType != Oms.PredicateType)
            {
                throw Fail(VerificationCheck.PredicateType, $"'{predicateType}', expected '{Oms.PredicateType}'");
            }
            JsonElement subjects = Prop(s, "subject", JsonValueKind.Array, VerificationCheck.Statement, "statement");
            if (subjects.GetArrayLength() != 1)
            {
                throw Fail(VerificationCheck.Statement, $"{subjects.GetArrayLength()} subjects, expected exactly one");
            }
            string modelName = Prop(subjects[0], "name", JsonValueKind.String, VerificationCheck.Statement, "subject").GetString()!;
            string subjectDigest = Prop(Prop(subjects[0], "digest", JsonValueKind.Object, VerificationCheck.Statement, "subject"), "sha256", JsonValueKind.String, VerificationCheck.SubjectDigest, "subject digest").GetString()!;
            JsonElement predicate = Prop(s, "predicate", JsonValueKind.Object, VerificationCheck.Statement, "statement");
            JsonElement ser = Prop(predicate, "serialization", JsonValueKind.Object, VerificationCheck.Statement, "predicate");
            string method = Prop(ser, "method", JsonValueKind.String, VerificationCheck.Statement, "serialization").GetString()!;
            if (method != "files")
            {
                throw Fail(VerificationCheck.Unsupported, $"serialization method '{method}' (only 'files' is supported)");
            }
            string hashType = Prop(ser, "hash_type", JsonValueKind.String, VerificationCheck.Statement, "serialization").GetString()!;
            if (hashType != "sha256")
            {
                throw Fail(VerificationCheck.Unsupported, $"hash type '{hashType}' (only sha256 is supported)");
            }
            bool allowSymlinks = Prop(ser, "allow_symlinks", JsonValueKind.True, VerificationCheck.Statement, "serialization").GetBoolean();
            var ignore = new List<string>();
            if (ser.TryGetProperty("ignore_paths", out JsonElement ig))
            {
                if (ig.ValueKind != JsonValueKind.Array)
                {
                    throw Fail(VerificationCheck.Statement, "ignore_paths is not an array");
                }
                foreach (JsonElement p in ig.EnumerateArray())
                {
                    if (p.ValueKind != JsonValueKind.String)
                    {
                        throw Fail(VerificationCheck.Statement, "ignore_paths holds a non-string");
                    }
                    ignore.Add(p.GetString()!);
                }
            }
            var resources = new List<ManifestEntry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            using var root = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (JsonElement r in Prop(predicate, "resources", JsonValueKind.Array, VerificationCheck.Statement, "predicate").EnumerateArray())
            {
                string name = Prop(r, "name", JsonValueKind.String, VerificationCheck.Statement, "resource").GetString()!;
                string algorithm = Prop(r, "algorithm", JsonValueKind.String, VerificationCheck.Statement, $"resource '{name}'").GetString()!;
                if (algorithm != "sha256")
                {
                    throw Fail(VerificationCheck.Unsupported, $"hash algorithm '{algorithm}' (only sha256 is supported)", name);
                }
                string digest = Prop(r, "digest", JsonValueKind.String, VerificationCheck.Statement, $"resource '{name}'").GetString()!;
                if (digest.Length != 64 || !digest.All(char.IsAsciiHexDigit))
                {
                    throw Fail(VerificationCheck.Statement, $"digest '{digest}' is not 64 hex digits", name);
                }
                try
                {
                    ModelRoot.ValidateName(name);
                }
                catch (PathRefusedException e)
                {
                    throw Fail(VerificationCheck.Statement, $"a signed name that is not a safe relative path: {e.Reason}", name);
                }
                if (!names.Add(name))
                {
                    throw Fail(VerificationCheck.Statement, "listed twice", name);
                }
                root.AppendData(Convert.FromHexString(digest));
                resources.Add(new ManifestEntry(name, digest.ToLowerInvariant()));
            }
            string actual = Convert.ToHexStringLower(root.GetHashAndReset());
            if (!string.Equals(actual, subjectDigest, StringComparison.OrdinalIgnoreCase))
            {
                throw Fail(VerificationCheck.SubjectDigest, $"the subject digest is {subjectDigest} but the resources hash to {actual}");
            }
            return new Statement(modelName, allowSymlinks, ignore, resources);
        }
    }

    private static VerifiedModel CheckFolder(ModelRoot root, Statement statement, VerifyOptions options)
    {
        List<string> ignore = [.. Oms.DefaultIgnorePaths, .. statement.IgnorePaths, .. options.IgnorePaths];
        bool allowSymlinks = statement.AllowSymlinks && options.AllowSymlinks;
        List<(string Name, string Path)> actual = ModelFolder.Enumerate(root, ignore, allowSymlinks, options.MaxFiles);
        var signed = statement.Resources.ToDictionary(r => r.Name, r => r.Sha256, StringComparer.Ordinal);
        var present = new HashSet<string>(actual.Select(a => a.Name), StringComparer.Ordinal);
        foreach ((string name, _) in actual)
        {
            if (!signed.ContainsKey(name))
            {
                throw Fail(VerificationCheck.ExtraFile, "present in the folder but not signed", name);
            }
        }
        foreach (ManifestEntry r in statement.Resources.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            if (!present.Contains(r.Name))
            {
                throw Fail(VerificationCheck.MissingFile, "signed but not in the folder", r.Name);
            }
        }
        var copies = new Dictionary<string, (SafeFileHandle, long)>(StringComparer.Ordinal);
        try
        {
            foreach ((string name, string path) in actual)
            {
                byte[] digest;
                using (SafeFileHandle source = OpenForHash(root, path, name, options.MaxFileBytes, out long length))
                {
                    if (options.KeepCopy?.Invoke(name) == true)
                    {
                        SafeFileHandle copy = PrivateCopy.Create(name, source, length, out digest);
                        copies[name] = (copy, length);
                    }
                    else
                    {
                        digest = ModelFolder.HashHandle(source, length);
                    }
                }
                string hex = Convert.ToHexStringLower(digest);
                if (hex != signed[name])
                {
                    throw Fail(VerificationCheck.ChangedFile, $"SHA-256 is {hex}, the signature says {signed[name]}", name);
                }
            }
            return new VerifiedModel(root, statement.ModelName, statement.Resources, copies);
        }
        catch
        {
            foreach ((SafeFileHandle h, _) in copies.Values)
            {
                h.Dispose();
            }
            throw;
        }
    }

    private static SafeFileHandle OpenForHash(ModelRoot root, string path, string name, long max, out long length)
    {
        try
        {
            return root.OpenResolved(path, max, out length);
        }
        catch (PathRefusedException e)
        {
            throw Fail(VerificationCheck.NotRegularFile, e.Reason, name);
        }
    }
}
