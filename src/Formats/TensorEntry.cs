namespace Mlx.Formats;

/// <summary>
/// Describes one tensor of an opened <see cref="ModelFile"/>. All fields were validated against the
/// file when it was opened; read the data through the owning <see cref="ModelFile"/>.
/// </summary>
public sealed class TensorEntry
{
    private readonly long[] _shape;

    internal TensorEntry(string name, TensorDType? dtype, string typeName, long[] shape, long elementCount, long byteLength, long dataOffset)
    {
        Name = name;
        DType = dtype;
        TypeName = typeName;
        _shape = shape;
        ElementCount = elementCount;
        ByteLength = byteLength;
        DataOffset = dataOffset;
    }

    /// <summary>Tensor name ("" for the single array of a .npy; the member name without ".npy" in a .npz).</summary>
    public string Name { get; }

    /// <summary>The element type, or null for a GGUF block-quantized type (see <see cref="GgmlType"/>).</summary>
    public TensorDType? DType { get; }

    /// <summary>The MLX dtype name, or ggml's lower-case type name (q4_0, q8_0, q4_k, ...) for quantized GGUF tensors.</summary>
    public string TypeName { get; }

    /// <summary>Shape in row-major (NumPy) order. GGUF's ne[] is reversed here, as MLX does.</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>Product of the shape (1 for a 0-d tensor).</summary>
    public long ElementCount { get; }

    /// <summary>Bytes of the tensor as stored (and, for plain dtypes, after conversion).</summary>
    public long ByteLength { get; }

    /// <summary>
    /// Byte offset of the stored data in the file. For a deflated .npz member it is the offset of the
    /// member's compressed data.
    /// </summary>
    public long DataOffset { get; }

    /// <summary>The ggml type of a GGUF tensor; null for other formats.</summary>
    public GgmlTypeInfo? GgmlType { get; internal init; }

    /// <summary>True when a .npy stores the data in Fortran (column-major) order.</summary>
    public bool IsFortranOrder { get; internal init; }

    /// <summary>True when a .npy stores the data big-endian.</summary>
    public bool IsBigEndian { get; internal init; }

    internal long[] ShapeArray => _shape;

    /// <summary>Where the stored bytes live when they are inside a deflated .npz member.</summary>
    internal Internal.DeflatedMember? Deflated { get; init; }

    /// <summary>Identity of the file this entry belongs to, so entries of another file are rejected.</summary>
    internal object? Owner { get; set; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {TypeName} [{string.Join(", ", _shape)}]";
}
