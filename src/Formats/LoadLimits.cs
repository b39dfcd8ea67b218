namespace Mlx.Formats;

/// <summary>
/// Caps applied while reading an untrusted file, checked before anything is allocated.
/// The defaults admit real models (tens of GB, tens of thousands of tensors, large tokenizer
/// vocabularies) while refusing absurd declarations early. All properties are settable.
/// </summary>
public sealed class LoadLimits
{
    /// <summary>The defaults (a fresh instance each time, so callers may change it).</summary>
    public static LoadLimits Default => new();

    /// <summary>Largest file accepted. Default 1 TiB.</summary>
    public long MaxFileBytes { get; set; } = 1L << 40;

    /// <summary>Most tensors in one file. Default 1,000,000.</summary>
    public long MaxTensorCount { get; set; } = 1_000_000;

    /// <summary>Highest rank (number of dimensions) of a tensor. Default 16 (GGUF is always at most 4).</summary>
    public int MaxRank { get; set; } = 16;

    /// <summary>Largest safetensors JSON header. Default 100,000,000 bytes, the Rust crate's cap.</summary>
    public long MaxHeaderBytes { get; set; } = 100_000_000;

    /// <summary>Largest .npy header (also inside .npz). Default 10,000 bytes, NumPy's max_header_size.</summary>
    public int MaxNpyHeaderBytes { get; set; } = 10_000;

    /// <summary>Most metadata entries (GGUF key/value pairs, safetensors __metadata__ keys). Default 1,000,000.</summary>
    public long MaxMetadataEntries { get; set; } = 1_000_000;

    /// <summary>Longest single string (metadata key or value, tensor name), in bytes. Default 16 MiB.</summary>
    public long MaxStringLength { get; set; } = 16L << 20;

    /// <summary>Most elements in one GGUF metadata array. Default 16,777,216.</summary>
    public long MaxMetadataArrayLength { get; set; } = 1L << 24;

    /// <summary>Largest sum of all tensors' byte lengths. Default 1 TiB.</summary>
    public long MaxTotalTensorBytes { get; set; } = 1L << 40;

    /// <summary>Most members in one .npz. Default 100,000.</summary>
    public int MaxNpzMembers { get; set; } = 100_000;

    /// <summary>Largest decompressed size of one .npz member. Default 4 GiB.</summary>
    public long MaxNpzMemberBytes { get; set; } = 4L << 30;

    /// <summary>Largest decompressed size of all .npz members together. Default 16 GiB.</summary>
    public long MaxNpzTotalBytes { get; set; } = 16L << 30;
}
