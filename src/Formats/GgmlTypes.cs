namespace Mlx.Formats;

/// <summary>One row of ggml's type table.</summary>
/// <param name="Id">The ggml_type id stored in a GGUF tensor info.</param>
/// <param name="Name">ggml's lower-case type name (f32, q4_0, q4_K is reported as "q4_k").</param>
/// <param name="BlockSize">Elements per block (1 for plain types).</param>
/// <param name="TypeSize">Bytes per block.</param>
/// <param name="DType">The plain element type, or null for quantized types.</param>
public sealed record GgmlTypeInfo(int Id, string Name, int BlockSize, int TypeSize, TensorDType? DType)
{
    /// <summary>True for block-quantized types (no plain element type).</summary>
    public bool IsQuantized => DType is null;
}

/// <summary>
/// ggml's type table (ggml.h / ggml.c type_traits). Ids removed from ggml (4, 5: Q4_2, Q4_3;
/// 31-33: Q4_0_4_4, Q4_0_4_8, Q4_0_8_8; 36-38: IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8) and ids past the
/// table are refused by id.
/// </summary>
public static class GgmlTypes
{
    private static readonly GgmlTypeInfo?[] s_table = Build();

    /// <summary>Every known type, in id order.</summary>
    public static IEnumerable<GgmlTypeInfo> All => s_table.Where(t => t is not null)!;

    /// <summary>Looks up a type id; false for removed or unknown ids.</summary>
    public static bool TryGet(long id, out GgmlTypeInfo info)
    {
        if (id >= 0 && id < s_table.Length && s_table[id] is { } found)
        {
            info = found;
            return true;
        }
        info = null!;
        return false;
    }

    /// <summary>Why an id is refused: removed from ggml, or unknown.</summary>
    public static string DescribeUnknown(long id) => id switch
    {
        4 => "type 4 (Q4_2) was removed from ggml",
        5 => "type 5 (Q4_3) was removed from ggml",
        >= 31 and <= 33 => $"type {id} (Q4_0 repacked {(id == 31 ? "4x4" : id == 32 ? "4x8" : "8x8")}) was removed from GGUF files",
        >= 36 and <= 38 => $"type {id} (IQ4_NL repacked {(id == 36 ? "4x4" : id == 37 ? "4x8" : "8x8")}) was removed from GGUF files",
        _ => $"unknown ggml type id {id}",
    };

    /// <summary>The GGUF type for a plain element type, or null when GGUF has none (bool, unsigned, complex).</summary>
    public static GgmlTypeInfo? ForDType(TensorDType dtype) => All.FirstOrDefault(t => t.DType == dtype);

    /// <summary>Byte size of a row-major tensor whose innermost dimension is ne0, or false on overflow or a bad ne0.</summary>
    internal static bool TryByteSize(GgmlTypeInfo type, long elementCount, long ne0, out long bytes)
    {
        bytes = 0;
        if (ne0 % type.BlockSize != 0 || elementCount % type.BlockSize != 0)
        {
            return false;
        }
        return Internal.Checked.TryMultiply(elementCount / type.BlockSize, type.TypeSize, out bytes);
    }

    private static GgmlTypeInfo?[] Build()
    {
        var rows = new GgmlTypeInfo[]
        {
            new(0, "f32", 1, 4, TensorDType.Float32),
            new(1, "f16", 1, 2, TensorDType.Float16),
            new(2, "q4_0", 32, 18, null),
            new(3, "q4_1", 32, 20, null),
            new(6, "q5_0", 32, 22, null),
            new(7, "q5_1", 32, 24, null),
            new(8, "q8_0", 32, 34, null),
            new(9, "q8_1", 32, 36, null),
            new(10, "q2_k", 256, 84, null),
            new(11, "q3_k", 256, 110, null),
            new(12, "q4_k", 256, 144, null),
            new(13, "q5_k", 256, 176, null),
            new(14, "q6_k", 256, 210, null),
            new(15, "q8_k", 256, 292, null),
            new(16, "iq2_xxs", 256, 66, null),
            new(17, "iq2_xs", 256, 74, null),
            new(18, "iq3_xxs", 256, 98, null),
            new(19, "iq1_s", 256, 50, null),
            new(20, "iq4_nl", 32, 18, null),
            new(21, "iq3_s", 256, 110, null),
            new(22, "iq2_s", 256, 82, null),
            new(23, "iq4_xs", 256, 136, null),
            new(24, "i8", 1, 1, TensorDType.Int8),
            new(25, "i16", 1, 2, TensorDType.Int16),
            new(26, "i32", 1, 4, TensorDType.Int32),
            new(27, "i64", 1, 8, TensorDType.Int64),
            new(28, "f64", 1, 8, TensorDType.Float64),
            new(29, "iq1_m", 256, 56, null),
            new(30, "bf16", 1, 2, TensorDType.BFloat16),
            new(34, "tq1_0", 256, 54, null),
            new(35, "tq2_0", 256, 66, null),
            new(39, "mxfp4", 32, 17, null),
            new(40, "nvfp4", 64, 36, null),
            new(41, "q1_0", 128, 18, null),
        };
        var table = new GgmlTypeInfo?[rows.Max(r => r.Id) + 1];
        foreach (GgmlTypeInfo row in rows)
        {
            table[row.Id] = row;
        }
        return table;
    }
}
