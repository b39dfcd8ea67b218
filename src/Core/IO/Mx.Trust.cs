using Mlx.Formats;
using Mlx.Formats.Trust;

namespace Mlx;

/// <summary>Trust before load: digest pinning, signed folders, sharded models through a <see cref="ModelRoot"/>, isolated loads.</summary>
public static partial class Mx
{
    private static readonly string[] s_modelExtensions = [".safetensors", ".npz", ".npy", ".gguf"];

    /// <summary>The shard index file name Hugging Face and MLX use.</summary>
    public const string ShardIndexName = "model.safetensors.index.json";

    private static bool IsModelFileName(string name) => s_modelExtensions.Any(e => name.EndsWith(e, StringComparison.Ordinal));

    private static ModelFile OpenForLoad(string path, LoadOptions options)
    {
        if (options.TrustedKey is { } signer)
        {
            string folder = options.SignedFolder ?? Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
            string name = Path.GetRelativePath(Path.GetFullPath(folder), Path.GetFullPath(path)).Replace('\\', '/');
            if (name == ".." || name.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(name))
            {
                throw new PathRefusedException(path, $"is not inside the signed folder '{folder}'");
            }
            ModelRoot.ValidateName(name);
            using VerifiedModel verified = ModelVerifier.Verify(folder, signer, new VerifyOptions { KeepCopy = n => n == name, MaxFileBytes = options.Limits.MaxFileBytes });
            if (!verified.HasCopy(name))
            {
                throw new SignatureVerificationException(name, VerificationCheck.MissingFile, "is not among the signed files");
            }
            if (options.ExpectedSha256 is { } pinned)
            {
                string signed = verified.Files.First(f => f.Name == name).Sha256;
                string want = pinned.Trim().ToLowerInvariant().Replace("sha256:", "", StringComparison.Ordinal);
                if (signed != want)
                {
                    throw new DigestMismatchException(path, want, signed);
                }
            }
            return verified.OpenModelFile(name, options.Limits);
        }
        if (options.ExpectedSha256 is { } sha)
        {
            return ModelFile.OpenPinned(path, sha, options.Limits);
        }
        return ModelFile.Open(path, options.Limits);
    }

    private static long RequiredBytes(ModelFile file)
    {
        long total = 0;
        foreach (TensorEntry t in file.Tensors)
        {
            total = checked(total + (t.DType is null ? t.ElementCount * 4 : t.ByteLength));
        }
        return total;
    }

    private static Dictionary<string, MxArray> LoadFiles(IReadOnlyList<ModelFile> files, LoadOptions options)
    {
        // The budget covers every file before the first array is made.
        long total = 0;
        foreach (ModelFile f in files)
        {
            total = checked(total + RequiredBytes(f));
        }
        Memory.EnsureAvailable(total);
        var result = new Dictionary<string, MxArray>(StringComparer.Ordinal);
        foreach (ModelFile f in files)
        {
            foreach ((string name, MxArray a) in LoadFile(f, options))
            {
                if (!result.TryAdd(name, a))
                {
                    throw new ModelFormatException(f.Format, $"array '{name}' is in more than one file of the model");
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Loads a sharded safetensors model: the index's <c>weight_map</c> names the shards, each a plain file name
    /// resolved through <paramref name="root"/> (no separator, no <c>..</c>, no absolute path; links must stay
    /// inside; regular files only). Every shard is validated and the memory budget checked before any array is made.
    /// </summary>
    public static Dictionary<string, MxArray> LoadSharded(ModelRoot root, string indexName = ShardIndexName, LoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        options ??= new LoadOptions();
        // Not disposed: arrays read lazily from the shards.
        ShardedSafetensors sharded = ShardedSafetensors.Open(root, indexName, options.Limits);
        return LoadFiles(sharded.Shards, options);
    }

    /// <summary>
    /// Loads a whole model folder: the shards of <c>model.safetensors.index.json</c> when present, otherwise every
    /// .safetensors/.npz/.npy/.gguf file at its top level. With <see cref="LoadOptions.TrustedKey"/> the folder's
    /// signature is required: every file is verified first and the model files are parsed from the very bytes
    /// that were hashed (private copies), so nothing unverified is ever parsed.
    /// </summary>
    public static Dictionary<string, MxArray> LoadModel(string folder, LoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new LoadOptions();
        if (options.Isolation is not null)
        {
            throw new ArgumentException("LoadModel does not run isolated; load the files one by one with LoadOptions.Isolation");
        }
        if (options.TrustedKey is { } signer)
        {
            using VerifiedModel verified = ModelVerifier.Verify(folder, signer, new VerifyOptions
            {
                KeepCopy = n => n == ShardIndexName || (!n.Contains('/') && IsModelFileName(n)),
                MaxFileBytes = options.Limits.MaxFileBytes,
            });
            if (verified.HasCopy(ShardIndexName))
            {
                Dictionary<string, string> map = ShardedSafetensors.ParseIndex(verified.ReadAllBytes(ShardIndexName), options.Limits.MaxTensorCount);
                ShardedSafetensors sharded = ShardedSafetensors.Open(map, name => verified.HasCopy(name)
                    ? verified.OpenModelFile(name, options.Limits)
                    : throw new SignatureVerificationException(name, VerificationCheck.MissingFile, "a shard named by the index is not among the signed files"));
                return LoadFiles(sharded.Shards, options);
            }
            var files = new List<ModelFile>();
            foreach (ManifestEntry e in verified.Files.OrderBy(f => f.Name, StringComparer.Ordinal))
            {
                if (verified.HasCopy(e.Name))
                {
                    files.Add(verified.OpenModelFile(e.Name, options.Limits));
                }
            }
            return LoadFiles(files, options);
        }
        var root = new ModelRoot(folder, options.Limits.MaxFileBytes);
        if (File.Exists(Path.Combine(root.FullPath, ShardIndexName)))
        {
            return LoadSharded(root, ShardIndexName, options);
        }
        var plain = Directory.EnumerateFiles(root.FullPath).Select(Path.GetFileName).OfType<string>()
            .Where(IsModelFileName).Order(StringComparer.Ordinal)
            .Select(n => root.OpenModelFile(n, options.Limits, allowSubfolders: false)).ToList();
        return LoadFiles(plain, options);
    }

    private static Dictionary<string, MxArray> LoadIsolated(string path, out IReadOnlyDictionary<string, MetadataValue> metadata, LoadOptions options)
    {
        if (options.TrustedKey is not null || options.ExpectedSha256 is not null)
        {
            throw new ArgumentException("LoadOptions.Isolation cannot be combined with ExpectedSha256 or TrustedKey: verify first, then load isolated");
        }
        IsolationLimits iso = options.Isolation!;
        LoadLimits l = options.Limits;
        long budget = Memory.MemoryLimit == long.MaxValue ? long.MaxValue : Math.Max(0, Memory.MemoryLimit - Memory.ActiveBytes);
        var limits = new LoadLimits
        {
            MaxFileBytes = l.MaxFileBytes,
            MaxTensorCount = l.MaxTensorCount,
            MaxRank = l.MaxRank,
            MaxHeaderBytes = l.MaxHeaderBytes,
            MaxNpyHeaderBytes = l.MaxNpyHeaderBytes,
            MaxMetadataEntries = l.MaxMetadataEntries,
            MaxStringLength = l.MaxStringLength,
            MaxMetadataArrayLength = l.MaxMetadataArrayLength,
            MaxTotalTensorBytes = Math.Min(l.MaxTotalTensorBytes, budget),
            MaxNpzMembers = l.MaxNpzMembers,
            MaxNpzMemberBytes = l.MaxNpzMemberBytes,
            MaxNpzTotalBytes = l.MaxNpzTotalBytes,
        };
        List<TensorData> tensors = IsolatedLoader.Load(path, new IsolationLimits
        {
            MaxMemoryBytes = iso.MaxMemoryBytes,
            AddressSpaceOverheadBytes = iso.AddressSpaceOverheadBytes,
            MaxCpuSeconds = iso.MaxCpuSeconds,
            WallClock = iso.WallClock,
            Limits = limits,
        });
        metadata = new Dictionary<string, MetadataValue>();
        Memory.EnsureAvailable(tensors.Sum(t => (long)t.Data.Length));
        var result = new Dictionary<string, MxArray>(StringComparer.Ordinal);
        foreach (TensorData t in tensors)
        {
            result[t.Name] = FromBytes(t.Data.Span, Dims(t.Shape), (DType)t.DType);
        }
        return result;
    }
}
