"""Fill the Spanish catalogue from the table below (run by `make translations`).

Keeping the translations in one reviewed table makes a missing one a test failure
(tests/test_translations.py) rather than an English word on a Spanish page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ES = {
    # Batch scoring: the files and jobs of the API and the pages.
    "%(num)d row is invalid; in strict mode nothing was scored.": (
        "%(num)d fila no es válida; en modo estricto no se ha puntuado nada.",
        "%(num)d filas no son válidas; en modo estricto no se ha puntuado nada.",
    ),
    "%(num)d rows are invalid; in strict mode nothing was scored.": "%(num)d filas no son válidas; en modo estricto no se ha puntuado nada.",
    "Columns are separated by semicolons.": "Las columnas están separadas por punto y coma.",
    "Columns are separated by tabs.": "Las columnas están separadas por tabuladores.",
    "Columns are separated by vertical bars.": "Las columnas están separadas por barras verticales.",
    "Line %(line)s is not a JSON object: %(reason)s.": "La línea %(line)s no es un objeto JSON: %(reason)s.",
    "Line %(line)s is not valid CSV: %(reason)s.": "La línea %(line)s no es CSV válido: %(reason)s.",
    "No column feeds these required inputs: %(features)s.": "Ninguna columna alimenta estas entradas obligatorias: %(features)s.",
    "Send CSV (text/csv) or JSON Lines (application/x-ndjson).": "Envía CSV (text/csv) o JSON Lines (application/x-ndjson).",
    "Send CSV (text/csv), JSON Lines (application/x-ndjson) or a multipart file (got “%(type)s”).": "Envía CSV (text/csv), JSON Lines (application/x-ndjson) o un archivo multipart (llegó «%(type)s»).",
    "Send the file in a multipart part named “file”.": "Envía el archivo en una parte multipart llamada «file».",
    "Several columns (%(columns)s) could feed the input %(feature)s.": "Varias columnas (%(columns)s) podrían alimentar la entrada %(feature)s.",
    "The file could not be scored.": "No se ha podido puntuar el archivo.",
    "The file has a header but no data rows.": "El archivo tiene cabecera pero ninguna fila de datos.",
    "The file has more than %(max)s rows.": "El archivo tiene más de %(max)s filas.",
    "The file is UTF-16 text; save it as UTF-8 (CSV UTF-8 in Excel).": "El archivo es texto UTF-16; guárdalo como UTF-8 (CSV UTF-8 en Excel).",
    "The file is empty.": "El archivo está vacío.",
    "The file is larger than %(max)s bytes.": "El archivo ocupa más de %(max)s bytes.",
    "The file is not UTF-8; it was read as Latin-1 (ISO-8859-1).": "El archivo no es UTF-8; se ha leído como Latin-1 (ISO-8859-1).",
    "The file is not UTF-8; it was read as Windows-1252 (Latin-1).": "El archivo no es UTF-8; se ha leído como Windows-1252 (Latin-1).",
    "The file starts with a UTF-8 byte-order mark; it was skipped.": "El archivo empieza con una marca de orden de bytes UTF-8; se ha omitido.",
    "The first line is empty: the file needs a header row naming its columns.": "La primera línea está vacía: el archivo necesita una fila de cabecera con los nombres de sus columnas.",
    "The job is %(status)s: this cannot be done now.": "El trabajo está en estado %(status)s: ahora no se puede hacer esto.",
    "The result of this job has expired and was deleted.": "El resultado de este trabajo ha caducado y se ha borrado.",
    "There is no such job.": "No existe ese trabajo.",
    "These columns appear more than once in the header: %(columns)s.": "Estas columnas aparecen más de una vez en la cabecera: %(columns)s.",
    "This is not a text file (an Excel workbook?): save it as CSV UTF-8 or JSON Lines.": "No es un archivo de texto (¿un libro de Excel?): guárdalo como CSV UTF-8 o JSON Lines.",
    "has %(found)s fields where the header has %(expected)s": "tiene %(found)s campos y la cabecera tiene %(expected)s",
    "is not a JSON object (%(reason)s)": "no es un objeto JSON (%(reason)s)",
    "%(num)d record": ("%(num)d registro", "%(num)d registros"),
    "API tokens": "Tokens de API",
    "Access": "Acceso",
    "Access of “%(name)s” saved.": "Acceso de «%(name)s» guardado.",
    "Admin": "Administración",
    "Administration": "Administración",
    "Administrator": "Administrador",
    "Change the password": "Cambiar la contraseña",
    "Change your password": "Cambia tu contraseña",
    "Changing it signs out your other sessions.": "Al cambiarla se cierran tus otras sesiones.",
    "Create an account": "Crear una cuenta",
    "Create the account": "Crear la cuenta",
    "Create the token": "Crear el token",
    "Create the user": "Crear el usuario",
    "Created": "Creado",
    "Current password": "Contraseña actual",
    "Disable": "Desactivar",
    "Enable": "Activar",
    "Expires": "Caduca",
    "Filter": "Filtrar",
    "From": "Desde",
    "History": "Historial",
    "In effect": "En vigor",
    "Inputs": "Entradas",
    "Label": "Etiqueta",
    "Last used": "Último uso",
    "Latency": "Latencia",
    "Make admin": "Hacer administrador",
    "Make user": "Hacer usuario",
    "Manifest": "Manifiesto",
    "Model": "Modelo",
    "Name": "Nombre",
    "New password": "Contraseña nueva",
    "New token": "Token nuevo",
    "New user": "Usuario nuevo",
    "No predictions recorded yet.": "Aún no hay predicciones registradas.",
    "No tokens yet.": "Aún no hay tokens.",
    "Pages": "Páginas",
    "Password": "Contraseña",
    "Password changed. Your other sessions are signed out.": "Contraseña cambiada. Tus otras sesiones se han cerrado.",
    "Prediction history": "Historial de predicciones",
    "Probabilities": "Probabilidades",
    "Register": "Registrarse",
    "Remember me": "Recordarme",
    "Repeat the new password": "Repite la contraseña nueva",
    "Request": "Petición",
    "Revoke": "Revocar",
    "Role": "Rol",
    "Save": "Guardar",
    "Scopes": "Permisos",
    "Send it as": "Envíalo como",
    "Set access": "Fijar el acceso",
    "Sign in": "Iniciar sesión",
    "Sign in to see more models.": "Inicia sesión para ver más modelos.",
    "Sign out": "Cerrar sesión",
    "Signed in as %(name)s (%(role)s).": "Sesión iniciada como %(name)s (%(role)s).",
    "Source": "Origen",
    "State": "Estado",
    "The body is not valid JSON: %(reason)s.": "El cuerpo no es JSON válido: %(reason)s.",
    "The current password is wrong.": "La contraseña actual no es correcta.",
    "The database is unavailable; nothing was recorded. Try again shortly.": "La base de datos no está disponible; no se ha registrado nada. Inténtalo de nuevo en un momento.",
    "There is no such record.": "No existe ese registro.",
    "This model needs a signed-in user: send an API token as “Authorization: Bearer …”.": "Este modelo necesita un usuario identificado: envía un token de API como «Authorization: Bearer …».",
    "To": "Hasta",
    "Token": "Token",
    "Token “%(name)s” revoked.": "Token «%(name)s» revocado.",
    "Tokens": "Tokens",
    "Too many attempts. Wait a moment and try again.": "Demasiados intentos. Espera un momento y vuelve a intentarlo.",
    "Too many requests": "Demasiadas peticiones",
    "User": "Usuario",
    "User name": "Nombre de usuario",
    "User “%(name)s” created.": "Usuario «%(name)s» creado.",
    "Users": "Usuarios",
    "Version": "Versión",
    "When": "Cuándo",
    "Wrong user name or password.": "Usuario o contraseña incorrectos.",
    "You may not use the model “%(name)s”.": "No puedes usar el modelo «%(name)s».",
    "Your account": "Tu cuenta",
    "Your new token. Copy it now: it will not be shown again.": "Tu token nuevo. Cópialo ahora: no se volverá a mostrar.",
    "active": "activo",
    "all": "todos",
    "as the manifest says": "según el manifiesto",
    "disabled": "desactivado",
    "in 30 days": "en 30 días",
    "in 7 days": "en 7 días",
    "in 90 days": "en 90 días",
    "in a year": "en un año",
    "never": "nunca",
    "%(num)d input": ("%(num)d entrada", "%(num)d entradas"),
    "%(rows)d rows sent; at most %(cap)d are accepted per request.": "Se enviaron %(rows)d filas; se aceptan como máximo %(cap)d por petición.",
    "API": "API",
    "Back to the models": "Volver a los modelos",
    "Bad request": "Petición incorrecta",
    "Between %(min)s and %(max)s.": "Entre %(min)s y %(max)s.",
    "Change the values": "Cambiar los valores",
    "Forbidden": "Prohibido",
    "Invalid input": "Datos no válidos",
    "Language": "Idioma",
    "Method not allowed": "Método no permitido",
    "Models": "Modelos",
    "New prediction": "Nueva predicción",
    "No models are loaded. Add one with “modelserve models add FILE”, or serve a file with "
    "“modelserve serve FILE”.": "No hay modelos cargados. Añade uno con «modelserve models add FICHERO» o sirve un "
    "fichero con «modelserve serve FICHERO».",
    "Page not found": "Página no encontrada",
    "Please correct the fields marked below.": "Corrige los campos marcados abajo.",
    "Predict": "Predecir",
    "Prediction": "Predicción",
    "Probability of each class": "Probabilidad de cada clase",
    "Result": "Resultado",
    "Send the body as application/json (got “%(type)s”).": "Envía el cuerpo como application/json (llegó «%(type)s»).",
    "Server error": "Error del servidor",
    "Something went wrong on our side; it has been logged as %(id)s.": "Algo ha fallado en nuestro lado; queda registrado como %(id)s.",
    "The body is not valid JSON: %(reason)s at line %(line)d, column %(column)d.": "El cuerpo no es JSON válido: %(reason)s en la línea %(line)d, columna %(column)d.",
    "The body is not valid UTF-8 (byte %(position)d).": "El cuerpo no es UTF-8 válido (byte %(position)d).",
    "The body nests too deeply.": "El cuerpo tiene demasiados niveles de anidamiento.",
    "The form was not sent from this site or has expired. Reload the page and try again.": "El formulario no se envió desde este sitio o ha caducado. Recarga la página y "
    "vuelve a intentarlo.",
    "The input is not valid: %(count)d problem(s).": "Los datos no son válidos: %(count)d problema(s).",
    "The prediction did not finish within %(seconds)s s; try again shortly.": "La predicción no terminó en %(seconds)s s; inténtalo de nuevo en un momento.",
    "The server is busy; try again shortly.": "El servidor está ocupado; inténtalo de nuevo en un momento.",
    "The request body is larger than this server accepts.": "El cuerpo de la petición es mayor de lo que acepta este servidor.",
    "The request could not be understood.": "No se pudo entender la petición.",
    "The request failed.": "La petición ha fallado.",
    "There is no model named “%(name)s”.": "No hay ningún modelo llamado «%(name)s».",
    "There is nothing at this address.": "No hay nada en esta dirección.",
    "This address does not accept that method.": "Esta dirección no acepta ese método.",
    "This content type is not accepted here.": "Aquí no se acepta ese tipo de contenido.",
    "Temporarily unavailable": "No disponible temporalmente",
    "Too large": "Demasiado grande",
    "Unsupported content type": "Tipo de contenido no admitido",
    "Use it from a program": "Úsalo desde un programa",
    "Your inputs": "Tus datos",
    "classification": "clasificación",
    "each row must be an object of field names to values": "cada fila debe ser un objeto de nombres de campo y valores",
    "is not an input of this model": "no es una entrada de este modelo",
    "is required": "es obligatorio",
    "must be a finite number (NaN, Infinity and overflowing values are not allowed)": "debe ser un número finito (no se admiten NaN, Infinity ni valores desbordados)",
    "must be a non-empty list of rows": "debe ser una lista de filas no vacía",
    "must be a number": "debe ser un número",
    "must be a whole number": "debe ser un número entero",
    "must be at least %(min)s": "debe ser como mínimo %(min)s",
    "must be at most %(max)s": "debe ser como máximo %(max)s",
    "must be at most %(max_length)s characters long": "debe tener como máximo %(max_length)s caracteres",
    "must be one of: %(choices)s": "debe ser uno de: %(choices)s",
    "must be text": "debe ser texto",
    "regression": "regresión",
    "required": "obligatorio",
    'the body must be a JSON object: one row, or {"instances": [rows]}': 'el cuerpo debe ser un objeto JSON: una fila, o {"instances": [filas]}',
    "version": "versión",
}


def main(folder: Path) -> int:
    with (folder / "messages.pot").open("rb") as handle:
        catalog = read_po(handle, locale="es")
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key not in ES:
            missing.append(key)
            continue
        message.string = ES[key]
    target = folder / "es" / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "messages.po").open("wb") as handle:
        write_po(handle, catalog, sort_output=True, omit_header=False)
    with (target / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)
    for key in missing:
        print(f"untranslated: {key!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("src/modelserve/translations")))
