namespace Mlx.Formats;

/// <summary>The container formats this library reads and writes.</summary>
public enum ModelFileFormat
{
    /// <summary>NumPy .npy (versions 1.0, 2.0, 3.0).</summary>
    Npy,

    /// <summary>NumPy .npz: a zip of .npy members, stored or deflated.</summary>
    Npz,

    /// <summary>Hugging Face .safetensors.</summary>
    Safetensors,

    /// <summary>ggml .gguf (versions 2 and 3).</summary>
    Gguf,
}

/// <summary>Helpers for <see cref="ModelFileFormat"/>.</summary>
public static class ModelFileFormats
{
    /// <summary>Lower-case name used in messages and JSON: npy, npz, safetensors, gguf.</summary>
    public static string Name(ModelFileFormat format) => format switch
    {
        ModelFileFormat.Npy => "npy",
        ModelFileFormat.Npz => "npz",
        ModelFileFormat.Safetensors => "safetensors",
        ModelFileFormat.Gguf => "gguf",
        _ => "unknown",
    };

    /// <summary>The format a file extension names (".npy", ".npz", ".safetensors", ".gguf"), or null.</summary>
    public static ModelFileFormat? FromExtension(string? extension) => extension?.ToLowerInvariant() switch
    {
        ".npy" => ModelFileFormat.Npy,
        ".npz" => ModelFileFormat.Npz,
        ".safetensors" => ModelFileFormat.Safetensors,
        ".gguf" => ModelFileFormat.Gguf,
        _ => null,
    };
}
