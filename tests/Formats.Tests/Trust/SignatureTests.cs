using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Mlx.Formats.Trust;
using static Mlx.Formats.Tests.Trust.TrustTestUtil;

namespace Mlx.Formats.Tests.Trust;

/// <summary>OMS v1.0 signatures: each failure on a real folder signed by the library, then damaged.</summary>
public class SignatureTests
{
    [Theory]
    [InlineData(256)]
    [InlineData(384)]
    [InlineData(521)]
    public void SignedFolderVerifies(int bits)
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey(bits);
        Sign(dir, key);
        using TrustedSigner trusted = TrustKey(key);
        using VerifiedModel m = ModelVerifier.Verify(dir, trusted);
        Assert.Equal(["config.json", "model.safetensors", "tokenizer/vocab.txt"], m.Files.Select(f => f.Name));
        Assert.Equal("my-model", m.ModelName);
    }

    [Fact]
    public void ChangedFileFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        File.AppendAllText(Path.Combine(dir, "config.json"), " ");
        SignatureVerificationException e = Fails(dir, key, VerificationCheck.ChangedFile, "config.json");
        Assert.Contains("the signature says", e.Message);
    }

    [Fact]
    public void ChangedFileInSubfolderFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        File.WriteAllText(Path.Combine(dir, "tokenizer", "vocab.txt"), "a\nc\n");
        Fails(dir, key, VerificationCheck.ChangedFile, "tokenizer/vocab.txt");
    }

    [Fact]
    public void MissingFileFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        File.Delete(Path.Combine(dir, "model.safetensors"));
        Fails(dir, key, VerificationCheck.MissingFile, "model.safetensors");
    }

    [Fact]
    public void ExtraFileFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        File.WriteAllText(Path.Combine(dir, "tokenizer", "added.py"), "import os");
        Fails(dir, key, VerificationCheck.ExtraFile, "tokenizer/added.py");
    }

    [Fact]
    public void IgnoredPathsAreIgnored()
    {
        string dir = ModelFolder();
        Directory.CreateDirectory(Path.Combine(dir, ".git"));
        File.WriteAllText(Path.Combine(dir, ".git", "HEAD"), "ref");
        File.WriteAllText(Path.Combine(dir, ".gitattributes"), "*");
        using ECDsa key = NewKey();
        Sign(dir, key, new ManifestOptions { IgnorePaths = ["notes"] });
        File.WriteAllText(Path.Combine(dir, ".git", "HEAD"), "changed");
        File.WriteAllText(Path.Combine(dir, "notes"), "recorded as ignored in the signature");
        Verifies(dir, key);
        Assert.Contains("\"notes\"", Encoding.UTF8.GetString(Payload(dir)));
    }

    [Fact]
    public void SymlinkRefusedWhenNotAllowed()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        File.CreateSymbolicLink(Path.Combine(dir, "alias.json"), "config.json");
        Fails(dir, key, VerificationCheck.Symlink, "alias.json");
        var e = Assert.Throws<SignatureVerificationException>(() => Sign(dir, key));
        Assert.Equal(VerificationCheck.Symlink, e.Check);
    }

    [Fact]
    public void SymlinkAllowedInsideButNotOutside()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        File.CreateSymbolicLink(Path.Combine(dir, "alias.json"), "config.json");
        Sign(dir, key, new ManifestOptions { AllowSymlinks = true });
        Verifies(dir, key, new VerifyOptions { AllowSymlinks = true });
        // The caller's policy wins over the signature's.
        Fails(dir, key, VerificationCheck.Symlink, "alias.json");
        string outside = Path.Combine(TestUtil.TempDir(), "secret");
        File.WriteAllText(outside, "x");
        File.Delete(Path.Combine(dir, "alias.json"));
        File.CreateSymbolicLink(Path.Combine(dir, "alias.json"), outside);
        SignatureVerificationException e = Fails(dir, key, VerificationCheck.Symlink, "alias.json", new VerifyOptions { AllowSymlinks = true });
        Assert.Contains("outside", e.Reason);
    }

    [Fact]
    public void FifoInFolderFailsWithoutBlocking()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        MkFifo(Path.Combine(dir, "pipe"));
        Fails(dir, key, VerificationCheck.NotRegularFile, "pipe");
    }

    [Fact]
    public void WrongKeyFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        using ECDsa other = NewKey();
        Sign(dir, key);
        SignatureVerificationException e = Fails(dir, other, VerificationCheck.Signature, "model.sig");
        Assert.Contains("another key", e.Reason);
        // Without the hint, the signature itself must fail.
        WriteBundle(dir, key, Payload(dir), hint: false);
        Verifies(dir, key);
        e = Fails(dir, other, VerificationCheck.Signature, "model.sig");
        Assert.Contains("does not verify", e.Reason);
    }

    [Fact]
    public void ChangedPayloadFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        string sigPath = Path.Combine(dir, "model.sig");
        string bundle = File.ReadAllText(sigPath);
        byte[] payload = Payload(dir);
        byte[] changed = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(payload).Replace("my-model", "my-modem"));
        File.WriteAllText(sigPath, bundle.Replace(Convert.ToBase64String(payload), Convert.ToBase64String(changed)));
        Fails(dir, key, VerificationCheck.Signature, "model.sig");
    }

    [Fact]
    public void WrongPayloadTypeFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        WriteBundle(dir, key, Payload(dir), payloadType: "application/json");
        Fails(dir, key, VerificationCheck.PayloadType, "model.sig");
        // The statement's own type.
        WriteBundle(dir, key, Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Payload(dir)).Replace("in-toto.io/Statement/v1", "in-toto.io/Statement/v0.1")));
        Fails(dir, key, VerificationCheck.PayloadType, "model.sig");
    }

    [Fact]
    public void WrongPredicateTypeFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        WriteBundle(dir, key, Statement("m", Digests(dir), predicateType: "https://model_signing/Digests/v0.1"));
        Fails(dir, key, VerificationCheck.PredicateType, "model.sig");
    }

    [Fact]
    public void BadSubjectDigestFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        WriteBundle(dir, key, Statement("m", Digests(dir), subjectDigest: new string('0', 64)));
        SignatureVerificationException e = Fails(dir, key, VerificationCheck.SubjectDigest, "model.sig");
        Assert.Contains(new string('0', 64), e.Reason);
    }

    [Theory]
    [InlineData("blake2", "sha256")]
    [InlineData("blake3", "sha256")]
    [InlineData("sha256", "blake2b")]
    public void UnsupportedHashFails(string hashType, string algorithm)
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        WriteBundle(dir, key, Statement("m", Digests(dir), hashType: hashType, algorithm: algorithm));
        SignatureVerificationException e = Assert.Throws<SignatureVerificationException>(() => ModelVerifier.Verify(dir, TrustKey(key)).Dispose());
        Assert.Equal(VerificationCheck.Unsupported, e.Check);
        Assert.Contains(hashType == "sha256" ? algorithm : hashType, e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage \u0001\u0002")]
    [InlineData("{}")]
    [InlineData("[1,2]")]
    [InlineData("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}")]
    [InlineData("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"verificationMaterial\":{},\"dsseEnvelope\":{\"payload\":\"!!\",\"payloadType\":\"x\",\"signatures\":[]}}")]
    [InlineData("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"mediaType\":\"x\"}")]
    public void EmptyOrGarbageBundleFails(string content)
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        File.WriteAllText(Path.Combine(dir, "model.sig"), content);
        Fails(dir, key, VerificationCheck.Bundle, "model.sig");
    }

    [Fact]
    public void MissingOrNonRegularSignatureFails()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Fails(dir, key, VerificationCheck.Bundle, "model.sig");
        MkFifo(Path.Combine(dir, "model.sig"));
        Fails(dir, key, VerificationCheck.Bundle, "model.sig");
    }

    [Fact]
    public void KeylessSigstoreIsRefused()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        File.WriteAllText(Path.Combine(dir, "model.sig"),
            "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"verificationMaterial\":{\"certificate\":{\"rawBytes\":\"AA==\"},\"tlogEntries\":[{\"logIndex\":\"1\"}]},"
            + "\"dsseEnvelope\":{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.in-toto+json\",\"signatures\":[{\"sig\":\"AA==\"}]}}");
        SignatureVerificationException e = Fails(dir, key, VerificationCheck.Unsupported, "model.sig");
        Assert.Contains("network", e.Reason);
    }

    [Fact]
    public void UnsafeSignedNamesAreRefused()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        WriteBundle(dir, key, Statement("m", [.. Digests(dir), ("../escape", new string('a', 64))]));
        Fails(dir, key, VerificationCheck.Statement, "../escape");
    }

    /// <summary>Signed by the library, verified by an implementation written here from the format's documentation.</summary>
    [Fact]
    public void IndependentVerifierAcceptsOurSignature()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey(384);
        Sign(dir, key);
        using JsonDocument bundle = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "model.sig")));
        JsonElement b = bundle.RootElement;
        Assert.Equal("application/vnd.dev.sigstore.bundle.v0.3+json", b.GetProperty("mediaType").GetString());
        string pem = key.ExportSubjectPublicKeyInfoPem().Replace("\r\n", "\n") + "\n";
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(pem))),
            b.GetProperty("verificationMaterial").GetProperty("publicKey").GetProperty("hint").GetString());
        Assert.Equal(0, b.GetProperty("verificationMaterial").GetProperty("tlogEntries").GetArrayLength());
        JsonElement env = b.GetProperty("dsseEnvelope");
        string type = env.GetProperty("payloadType").GetString()!;
        Assert.Equal("application/vnd.in-toto+json", type);
        byte[] payload = Convert.FromBase64String(env.GetProperty("payload").GetString()!);
        byte[] sig = Convert.FromBase64String(env.GetProperty("signatures")[0].GetProperty("sig").GetString()!);
        byte[] pae = Concat(Encoding.ASCII.GetBytes($"DSSEv1 {type.Length} {type} {payload.Length} "), payload);
        using var pub = ECDsa.Create();
        pub.ImportSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);
        Assert.True(pub.VerifyData(pae, sig, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence));

        using JsonDocument st = JsonDocument.Parse(payload);
        JsonElement s = st.RootElement;
        Assert.Equal("https://in-toto.io/Statement/v1", s.GetProperty("_type").GetString());
        Assert.Equal("https://model_signing/signature/v1.0", s.GetProperty("predicateType").GetString());
        JsonElement ser = s.GetProperty("predicate").GetProperty("serialization");
        Assert.Equal("files", ser.GetProperty("method").GetString());
        Assert.Equal("sha256", ser.GetProperty("hash_type").GetString());
        Assert.False(ser.GetProperty("allow_symlinks").GetBoolean());
        Assert.Contains("model.sig", ser.GetProperty("ignore_paths").EnumerateArray().Select(e => e.GetString()));
        var resources = s.GetProperty("predicate").GetProperty("resources").EnumerateArray()
            .Select(r => (Name: r.GetProperty("name").GetString()!, Alg: r.GetProperty("algorithm").GetString()!, Digest: r.GetProperty("digest").GetString()!)).ToList();
        var expected = Digests(dir).OrderBy(d => d.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(expected.Select(e => e.Name), resources.Select(r => r.Name));
        Assert.Equal(expected.Select(e => e.Digest), resources.Select(r => r.Digest));
        Assert.All(resources, r => Assert.Equal("sha256", r.Alg));
        JsonElement subject = Assert.Single(s.GetProperty("subject").EnumerateArray());
        Assert.Equal("my-model", subject.GetProperty("name").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(resources.SelectMany(r => Convert.FromHexString(r.Digest)).ToArray())),
            subject.GetProperty("digest").GetProperty("sha256").GetString());
    }

    /// <summary>Signed here from the documentation, verified by the library.</summary>
    [Theory]
    [InlineData(256)]
    [InlineData(521)]
    public void LibraryVerifiesIndependentSignature(int bits)
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey(bits);
        WriteBundle(dir, key, Statement("any-name", Digests(dir)));
        Verifies(dir, key);
        File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
        Fails(dir, key, VerificationCheck.ChangedFile, "config.json");
    }

    private static string OmsData(string name) => TestUtil.Data("oms", name);

    /// <summary>Signatures made by the reference implementation (sigstore/model-transparency v1.0.1 and v1.1.0).</summary>
    [Fact]
    public void ReferenceImplementationSignaturesVerify()
    {
        using TrustedSigner key = TrustedSigner.FromPublicKeyPem(File.ReadAllText(OmsData("signing-key-pub.pem")));
        using (VerifiedModel m = ModelVerifier.Verify(OmsData("v1.1.0-elliptic-key"), key))
        {
            Assert.Equal(["signme-1", "signme-2"], m.Files.Select(f => f.Name));
        }
        // v1.0.1 did not record its ignore list; the reference test passes --ignore-paths ignore-me.
        using (ModelVerifier.Verify(OmsData("v1.0.1-elliptic-key"), key, new VerifyOptions { IgnorePaths = ["ignore-me"] }))
        {
        }
        var e = Assert.Throws<SignatureVerificationException>(() => ModelVerifier.Verify(OmsData("v1.0.1-elliptic-key"), key).Dispose());
        Assert.Equal(VerificationCheck.ExtraFile, e.Check);
        using TrustedSigner roots = TrustedSigner.FromCertificateChainPem(File.ReadAllText(OmsData("ca-cert.pem")));
        using (ModelVerifier.Verify(OmsData("v1.1.0-certificate"), roots))
        {
        }
        e = Assert.Throws<SignatureVerificationException>(() => ModelVerifier.Verify(OmsData("v1.1.0-certificate"), key).Dispose());
        Assert.Equal(VerificationCheck.Signature, e.Check);
    }

    [Fact]
    public void ReferenceSignatureOnDamagedCopyFails()
    {
        string dir = Path.Combine(TestUtil.TempDir(), "copy");
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(OmsData("v1.1.0-elliptic-key")))
        {
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }
        File.AppendAllText(Path.Combine(dir, "signme-2"), "!");
        using TrustedSigner key = TrustedSigner.FromPublicKeyPem(File.ReadAllText(OmsData("signing-key-pub.pem")));
        var e = Assert.Throws<SignatureVerificationException>(() => ModelVerifier.Verify(dir, key).Dispose());
        Assert.Equal((VerificationCheck.ChangedFile, "signme-2"), (e.Check, e.File));
    }

    private static (X509Certificate2 Root, ECDsa RootKey) NewRoot(string name)
    {
        var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={name}", rootKey, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return (req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1)), rootKey);
    }

    private static X509Certificate2 Leaf(X509Certificate2 root, ECDsa leafKey, X509KeyUsageFlags usage)
    {
        var req = new CertificateRequest("CN=model signer", leafKey, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        return req.Create(root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), [1, 2, 3, 4]);
    }

    [Fact]
    public void CertificateChainSignatureVerifiesAgainstItsRootOnly()
    {
        (X509Certificate2 root, ECDsa rootKey) = NewRoot("test root");
        (X509Certificate2 otherRoot, ECDsa otherKey) = NewRoot("other root");
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 leaf = Leaf(root, leafKey, X509KeyUsageFlags.DigitalSignature);
        string dir = ModelFolder();
        using (ModelSigner signer = ModelSigner.FromPrivateKeyAndCertificates(leafKey.ExportPkcs8PrivateKeyPem(), leaf.ExportCertificatePem()))
        {
            signer.Sign(dir);
        }
        using (TrustedSigner trusted = TrustedSigner.FromCertificateChainPem(root.ExportCertificatePem()))
        using (VerifiedModel m = ModelVerifier.Verify(dir, trusted))
        {
            Assert.Equal(3, m.Files.Count);
        }
        using TrustedSigner wrong = TrustedSigner.FromCertificateChainPem(otherRoot.ExportCertificatePem());
        var e = Assert.Throws<SignatureVerificationException>(() => ModelVerifier.Verify(dir, wrong).Dispose());
        Assert.Equal((VerificationCheck.Certificate, "model.sig"), (e.Check, e.File));
        // A key-only verifier is told to use the certificate roots.
        using ECDsa someKey = NewKey();
        Fails(dir, someKey, VerificationCheck.Signature, "model.sig");
        rootKey.Dispose();
        otherKey.Dispose();
    }

    [Fact]
    public void CertificateThatMayNotSignFails()
    {
        (X509Certificate2 root, ECDsa rootKey) = NewRoot("test root");
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 leaf = Leaf(root, leafKey, X509KeyUsageFlags.KeyEncipherment);
        string dir = ModelFolder();
        using (ModelSigner signer = ModelSigner.FromPrivateKeyAndCertificates(leafKey.ExportPkcs8PrivateKeyPem(), leaf.ExportCertificatePem()))
        {
            signer.Sign(dir);
        }
        using TrustedSigner trusted = TrustedSigner.FromCertificateChainPem(root.ExportCertificatePem());
        var e = Assert.Throws<SignatureVerificationException>(() => ModelVerifier.Verify(dir, trusted).Dispose());
        Assert.Equal(VerificationCheck.Certificate, e.Check);
        Assert.Contains("digital signatures", e.Reason);
        rootKey.Dispose();
    }

    [Fact]
    public void SigningCertificateMustMatchKey()
    {
        (X509Certificate2 root, ECDsa rootKey) = NewRoot("test root");
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 leaf = Leaf(root, leafKey, X509KeyUsageFlags.DigitalSignature);
        Assert.Throws<CryptographicException>(() => ModelSigner.FromPrivateKeyAndCertificates(otherKey.ExportPkcs8PrivateKeyPem(), leaf.ExportCertificatePem()));
        rootKey.Dispose();
    }

    [Fact]
    public void NonEcOrUnsupportedCurveKeysAreRefused()
    {
        using var rsa = RSA.Create(2048);
        Assert.Throws<CryptographicException>(() => ModelSigner.FromPrivateKeyPem(rsa.ExportPkcs8PrivateKeyPem()));
        Assert.Throws<CryptographicException>(() => TrustedSigner.FromPublicKeyPem(rsa.ExportSubjectPublicKeyInfoPem()));
        using var brainpool = ECDsa.Create(ECCurve.NamedCurves.brainpoolP256r1);
        Assert.Throws<CryptographicException>(() => ModelSigner.FromPrivateKeyPem(brainpool.ExportPkcs8PrivateKeyPem()));
        Assert.Throws<CryptographicException>(() => TrustedSigner.FromPublicKeyPem("garbage"));
    }

    [Fact]
    public void VerifiedCopiesAreTheHashedBytes()
    {
        string dir = ModelFolder();
        using ECDsa key = NewKey();
        Sign(dir, key);
        using TrustedSigner trusted = TrustKey(key);
        using VerifiedModel m = ModelVerifier.Verify(dir, trusted, new VerifyOptions { KeepCopy = n => n.EndsWith(".safetensors", StringComparison.Ordinal) });
        // Replacing the file after verification does not change what is parsed.
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), [new TensorData("evil", TensorDType.Float32, [1], new byte[4])]);
        using ModelFile f = m.OpenModelFile("model.safetensors");
        Assert.Equal("w", Assert.Single(f.Tensors).Name);
        Assert.Equal(MemoryMarshalBytes([1f, 2f, 3f, 4f]), f.ReadTensor(f.Tensors[0]));
        Assert.Throws<ArgumentException>(() => m.OpenModelFile("config.json"));
    }
}
